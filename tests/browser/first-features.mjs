#!/usr/bin/env node
// Time from navigation to the first rendered features of the hypervision page, in Debian's
// Chromium (SwiftShader WebGL, 1280×800), against a running vigie serving the demo.
//
//   node tests/browser/first-features.mjs http://127.0.0.1:8080 [runs]
//
// Two views: the page as it opens (`/`) and a dense one (the demo's whole range at zoom 12).
// Each run is a fresh browser profile (cold browser cache; the server's tile cache is warm
// after the first run). Prints every run and the median. The figure is
// `performance.now()` (ms since navigation start) at the first MapLibre render in which
// queryRenderedFeatures finds a feature, as recorded by the page itself
// (window.vigie.timings.navigationToFirstFeaturesMs).

import { launch } from './chromium.mjs';

const base = (process.argv[2] || '').replace(/\/$/, '');
const runs = Number(process.argv[3] || 5);
if (!/^https?:\/\//.test(base) || !(runs >= 1)) {
  console.error('usage: node tests/browser/first-features.mjs http://127.0.0.1:PORT [runs]');
  process.exit(1);
}

const newest = (await (await fetch(`${base}/api/entries?limit=1&qualification=all`)).json()).entries?.[0];
if (!newest) {
  console.error('no entry on this server: start it with --demo');
  process.exit(1);
}
const DAY = 86_400_000;
const t = Date.parse(newest.occurred_at);
const from = new Date(Math.floor((t - 60 * DAY) / DAY) * DAY).toISOString();
const to = new Date(Math.ceil((t + DAY) / DAY) * DAY).toISOString();
const url = `${base}/#map=12.00/48.86200/2.30000&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`;

const scenarios = [
  ['default page (/: the week up to the newest entry, zoom 11)', `${base}/`],
  ['dense view (the demo\'s whole range, zoom 12 over central Paris)', url],
];

for (const [name, target] of scenarios) {
  const times = [];
  console.log(name);
  for (let i = 0; i < runs; i += 1) {
    let browser;
    try {
      browser = await launch();
    } catch (e) {
      console.error(e.message);
      process.exit(1);
    }
    try {
      const page = browser.context.pages()[0] || (await browser.context.newPage());
      await page.goto(target, { waitUntil: 'commit' });
      await page.waitForFunction(() => window.vigie?.timings?.navigationToFirstFeaturesMs != null, null, { timeout: 30_000, polling: 50 });
      const ms = await page.evaluate(() => window.vigie.timings.navigationToFirstFeaturesMs);
      times.push(ms);
      console.log(`  run ${i + 1}: ${ms} ms`);
    } finally {
      await browser.close();
    }
  }
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`  median ${sorted[Math.floor(sorted.length / 2)]} ms (min ${sorted[0]}, max ${sorted.at(-1)}) over ${runs} runs`);
}
