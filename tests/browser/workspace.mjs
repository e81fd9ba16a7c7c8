#!/usr/bin/env node
// The web view of a workspace other than the primary one, in Chromium: opened at /w/pp/ and
// signed in as a member of `pp` (VIGIE_TEST_ANALYST=name:password, an analyst created there by
// tests/e2e/browser.rs), the page must ask only /w/pp/… of the server — catalog, style, tiles,
// entries, queries, live events, sign-in — and render the map.
//   VIGIE_TEST_ANALYST=alice:PASSWORD node tests/browser/workspace.mjs http://127.0.0.1:PORT
// Exits 1 with what failed.

import { baseUrl, fail, launchOrFail } from './harness.mjs';

const usage = 'VIGIE_TEST_ANALYST=name:password node tests/browser/workspace.mjs http://127.0.0.1:PORT';
const base = baseUrl(usage);
const [name, password] = (process.env.VIGIE_TEST_ANALYST || '').split(/:(.*)/s);
if (!name || !password) fail(`usage: ${usage}`);

const { context, close } = await launchOrFail();
try {
  const page = context.pages()[0] || (await context.newPage());
  const asked = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.origin === new URL(base).origin && !u.pathname.startsWith('/web/')) asked.push(`${r.method()} ${u.pathname}`);
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/w/pp/`, { waitUntil: 'networkidle' });
  await page.fill('#signin-name', name);
  await page.fill('#signin-password', password);
  await page.click('#signin-submit');
  await page.waitForFunction(() => window.vigie?.map?.loaded?.() && window.vigie.map.isStyleLoaded(), null, { timeout: 30000 });
  await page.waitForLoadState('networkidle');
  const me = await page.evaluate(async () => (await fetch('/w/pp/api/me')).json());
  if (me.workspace !== 'pp' || me.name !== name) fail(`signed in as ${JSON.stringify(me)}, expected ${name} in pp`);
  const outside = asked.filter((a) => !a.split(' ')[1].startsWith('/w/pp/'));
  if (outside.length) fail(`the page asked outside its workspace:\n${[...new Set(outside)].join('\n')}`);
  for (const needed of ['/w/pp/catalog', '/w/pp/styles/', '/w/pp/tiles/', '/w/pp/api/entries', '/w/pp/api/events']) {
    if (!asked.some((a) => a.split(' ')[1].startsWith(needed))) fail(`the page never asked ${needed}: ${asked.join(', ')}`);
  }
  if (errors.length) fail(`page errors: ${errors.join('; ')}`);
  console.log(`ok: ${asked.length} requests, all under /w/pp/ (${[...new Set(asked.map((a) => a.split(' ')[1].split('/').slice(0, 4).join('/')))].join(', ')})`);
} finally {
  await close();
}
