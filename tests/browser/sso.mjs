#!/usr/bin/env node
// Signing in with OpenID Connect (SSO) in a real browser: Debian's Chromium driven by
// playwright-core, against a vigie that requires sign-in and is configured ([auth.oidc]) with
// the test provider tests/oidc/provider.mjs (npm `oidc-provider`, its development login page
// takes any login and password). Started by tests/e2e/browser.rs:
//
//   node tests/browser/sso.mjs http://127.0.0.1:VIGIEPORT [http://127.0.0.1:PROVIDERPORT]
//
// (the provider's issuer defaults to the one GET /api/auth/methods names). Checks, each failing
// with a message that says what went wrong:
//   1. without a session the sign-in dialog offers the SSO button (French and English), and the
//      page asks the server for no data (only /api/me and /api/auth/methods)
//   2. the button goes to the provider's login page (on the provider's origin), through an
//      authorization request with PKCE S256, state, nonce and vigie's own callback
//   3. login "oscar" and any password (and the consent page, if the provider shows one) land
//      back on vigie at the place the sign-in started, signed in: GET /api/me from the page is
//      an account with the reader role (the name vigie chose is printed), the header names it,
//      the session cookie is HttpOnly and the sign-in cookie is gone
//   4. the map renders venues and entries (queryRenderedFeatures)
//   5. signing out shows the dialog with the SSO button again; the old cookie is refused
//   6. the SSO button again: the provider remembers the login, so no login page this time
//   7. no page error, no 5xx, no 4xx on vigie but the 401 of /api/me before signing in
// Screenshots: tests/out/sso-*.png. Exits 1 on the first failed check; a missing Chromium or
// playwright-core is a failure with what to install, never a skip.

import { join } from 'node:path';
import { baseUrl, checker, fail, launchOrFail, outDir, results, started } from './harness.mjs';
import { mapRenders as mapDrawn } from './map.mjs';

const base = baseUrl('node tests/browser/sso.mjs http://127.0.0.1:VIGIEPORT [PROVIDER_ISSUER]');
const vigieOrigin = new URL(base).origin;
const SESSION_COOKIE = 'vigie_session';
const PENDING_COOKIE = 'vigie_oidc';
const LOGIN = 'oscar';
/** Where the sign-in starts: the place the provider must send the browser back to. */
const START = '/#map=12.00/48.86200/2.30000&lang=fr';

/** GET `path` from Node, with a session cookie or none: `{status, body}`. */
async function getFromNode(path, cookie) {
  const r = await fetch(`${base}${path}`, { headers: cookie ? { Cookie: `${SESSION_COOKIE}=${cookie}` } : {} });
  return { status: r.status, body: await r.json().catch(() => null) };
}

const anonymous = await getFromNode('/api/me');
if (anonymous.status !== 401) fail(`GET /api/me without a session answered ${anonymous.status}: start vigie with --require-sign-in`);
const methods = await getFromNode('/api/auth/methods');
if (methods.status !== 200 || typeof methods.body?.oidc?.login !== 'string') {
  fail(`GET /api/auth/methods answered ${methods.status} ${JSON.stringify(methods.body)}: start vigie with [auth.oidc] pointing at tests/oidc/provider.mjs`);
}
const issuer = (process.argv[3] || process.env.VIGIE_TEST_OIDC_ISSUER || methods.body.oidc.issuer || '').replace(/\/$/, '');
if (!/^https?:\/\//.test(issuer)) fail('the provider\u2019s issuer is unknown: pass it as the second argument');
const providerOrigin = new URL(issuer).origin;
if (providerOrigin === vigieOrigin) fail(`the provider (${issuer}) and vigie (${base}) share an origin: the test could not tell them apart`);


// ---------------------------------------------------------------- browser

const { context, close: closeBrowser } = await launchOrFail();

/** Every response of vigie: `{method, path, status, at}` (at: ms since the script started). */
const responses = [];
/** Every request to the provider: `{method, url, at}`. */
const toProvider = [];
const pageErrors = [];
context.on('request', (r) => {
  const u = new URL(r.url());
  if (u.origin === providerOrigin) toProvider.push({ method: r.method(), url: u, at: Date.now() });
});
context.on('response', (r) => {
  const u = new URL(r.url());
  if (u.origin !== vigieOrigin) return;
  responses.push({ method: r.request().method(), path: u.pathname, status: r.status(), at: Date.now() });
});


const page = context.pages()[0] || (await context.newPage());
page.on('pageerror', (e) => pageErrors.push(e.message));

const { check, finish } = checker({ prefix: 'sso-', page: () => page, close: closeBrowser, errors: () => (pageErrors.length ? `\n  page errors: ${pageErrors.join(' | ')}` : '') });

/** Paths that carry data (anything but the page, its assets, identity and sign-in routes). */
const isData = (path) => !(path === '/' || path.startsWith('/web/') || path === '/api/me' || path === '/api/auth/methods' || path.startsWith('/auth/oidc/'));

const dialogShown = (timeout = 5_000) => page.waitForFunction(() => document.getElementById('signin')?.open, null, { timeout, polling: 50 });
const ssoButton = () => page.locator('#signin-sso-button');
const onProvider = (u) => u.origin === providerOrigin;
const onVigie = (u) => u.origin === vigieOrigin;

/** The session and sign-in cookies the browser holds now for vigie. */
async function cookies() {
  const all = await context.cookies(`${base}/auth/oidc/callback`);
  return { session: all.find((c) => c.name === SESSION_COOKIE) || null, pending: all.find((c) => c.name === PENDING_COOKIE) || null };
}

const mapRenders = () => mapDrawn(page);

/** GET /api/me from the page: `{status, body}`. */
const meFromPage = () =>
  page.evaluate(async () => {
    const r = await fetch('/api/me', { cache: 'no-store' });
    return { status: r.status, body: await r.json().catch(() => null) };
  });

// ---------------------------------------------------------------- 1. the SSO button

await check('without a session: the dialog offers the SSO button, and no data reaches the page', async () => {
  await page.goto(`${base}${START}`, { waitUntil: 'networkidle' });
  await dialogShown();
  await ssoButton().waitFor({ state: 'visible', timeout: 5_000 });
  const fr = (await ssoButton().textContent()).trim();
  if (fr !== 'Se connecter avec le SSO') throw new Error(`the SSO button reads "${fr}"`);
  // The password form stays: the server offers both.
  if (!(await page.locator('#signin-password').isVisible())) throw new Error('the password field is hidden though /api/auth/methods says password: true');
  await page.locator('#signin-lang').click();
  await page.getByRole('button', { name: 'Sign in with SSO' }).waitFor({ timeout: 2_000 });
  await page.locator('#signin-lang').click();
  await page.getByRole('button', { name: 'Se connecter avec le SSO' }).waitFor({ timeout: 2_000 });
  const asked = responses.filter((r) => isData(r.path));
  if (asked.length) throw new Error(`the page asked for data before signing in: ${asked.slice(0, 5).map((r) => `${r.status} ${r.method} ${r.path}`).join(', ')}`);
  if (!responses.some((r) => r.path === '/api/auth/methods' && r.status === 200)) throw new Error('the page did not ask GET /api/auth/methods (or it did not answer 200)');
  if (toProvider.length) throw new Error(`the page talked to the provider before the button was pressed: ${toProvider[0].url}`);
  await page.screenshot({ path: join(outDir, 'sso-01-dialog.png') });
  return `"${fr}" / "Sign in with SSO", next to the password form`;
});

// ---------------------------------------------------------------- 2. to the provider

let authorize;
await check('the SSO button goes to the provider\u2019s login page', async () => {
  const at = Date.now();
  await ssoButton().click();
  await page.waitForURL((u) => onProvider(u) && u.pathname.startsWith('/interaction/'), { timeout: 10_000 });
  await page.locator('input[name="login"]').waitFor({ timeout: 5_000 });
  const start = responses.find((r) => r.path === '/auth/oidc/login' && r.at >= at);
  if (!start || start.status !== 302) throw new Error(`GET /auth/oidc/login answered ${start?.status ?? 'nothing'}`);
  authorize = toProvider.find((r) => r.at >= at && r.url.pathname === '/auth')?.url;
  if (!authorize) throw new Error(`no authorization request reached the provider: ${toProvider.map((r) => r.url.pathname).join(', ')}`);
  const q = authorize.searchParams;
  const want = {
    response_type: 'code',
    client_id: 'vigie',
    redirect_uri: `${vigieOrigin}/auth/oidc/callback`,
    code_challenge_method: 'S256',
  };
  for (const [k, v] of Object.entries(want)) if (q.get(k) !== v) throw new Error(`the authorization request has ${k}=${q.get(k)}, expected ${v}`);
  for (const k of ['state', 'nonce', 'code_challenge']) if ((q.get(k) || '').length < 16) throw new Error(`the authorization request's ${k} is "${q.get(k)}"`);
  if (!(q.get('scope') || '').split(' ').includes('openid')) throw new Error(`the authorization request's scope is "${q.get('scope')}"`);
  if (!(await cookies()).pending) throw new Error(`no ${PENDING_COOKIE} cookie holds the sign-in under way`);
  await page.screenshot({ path: join(outDir, 'sso-02-provider.png') });
  return `${new URL(page.url()).origin}${new URL(page.url()).pathname.replace(/[^/]+$/, '…')}; PKCE S256, state and nonce sent, scope "${q.get('scope')}"`;
});

// ---------------------------------------------------------------- 3. back, signed in

let me;
await check(`logging in as "${LOGIN}" at the provider lands back on vigie, signed in`, async () => {
  const at = Date.now();
  await page.locator('input[name="login"]').fill(LOGIN);
  await page.locator('input[name="password"]').fill('n-importe-quel-mot-de-passe');
  await page.locator('button[type="submit"]').click();
  // A consent page, if the provider asks: one "Continue".
  let consent = false;
  await page.waitForURL((u) => onVigie(u) || (onProvider(u) && u.pathname.startsWith('/interaction/')), { timeout: 10_000 });
  if (onProvider(new URL(page.url()))) {
    const cont = page.getByRole('button', { name: 'Continue' });
    if (await cont.count()) {
      consent = true;
      await cont.click();
    }
  }
  await page.waitForURL((u) => onVigie(u) && !u.pathname.startsWith('/auth/'), { timeout: 10_000 });
  const callback = responses.find((r) => r.path === '/auth/oidc/callback' && r.at >= at);
  if (!callback || callback.status !== 303) throw new Error(`GET /auth/oidc/callback answered ${callback?.status ?? 'nothing'}`);
  const landed = new URL(page.url());
  if (`${landed.pathname}${landed.search}${landed.hash}` !== START) throw new Error(`back at ${landed.pathname}${landed.search}${landed.hash}, not where the sign-in started (${START})`);
  await page.waitForFunction(() => window.vigie?.me, null, { timeout: 10_000 });
  if (await page.evaluate(() => document.getElementById('signin')?.open)) throw new Error('the sign-in dialog is up after coming back');
  const r = await meFromPage();
  me = r.body;
  if (r.status !== 200) throw new Error(`GET /api/me from the page answered ${r.status}`);
  if (me.kind !== 'account') throw new Error(`GET /api/me: kind "${me.kind}", expected "account"`);
  if (me.role !== 'reader') throw new Error(`GET /api/me: role "${me.role}", expected "reader" (default_role of [auth.oidc])`);
  if (!me.name || !me.name.includes(LOGIN)) throw new Error(`GET /api/me: name "${me.name}" says nothing of "${LOGIN}"`);
  const shown = await page.locator('#identity-name').textContent();
  if (shown !== me.name) throw new Error(`the header names "${shown}", not "${me.name}"`);
  const role = await page.locator('#identity-role').textContent();
  if (role !== 'lecteur') throw new Error(`the header's role is "${role}"`);
  if (!(await page.locator('#sign-out').isVisible())) throw new Error('no sign-out button in the header');
  const c = await cookies();
  if (!c.session) throw new Error(`no ${SESSION_COOKIE} cookie after the callback`);
  if (!c.session.httpOnly) throw new Error(`the ${SESSION_COOKIE} cookie is readable from scripts (not HttpOnly)`);
  if (c.pending) throw new Error(`the ${PENDING_COOKIE} cookie is still there after the callback`);
  return `GET /api/me: ${JSON.stringify({ kind: me.kind, name: me.name, role: me.role, workspace: me.workspace })}; back at ${START}${consent ? '; consent page clicked through' : '; no consent page'}`;
});

// ---------------------------------------------------------------- 4. the map

await check('the map renders venues and entries', async () => {
  const counts = await mapRenders();
  await page.screenshot({ path: join(outDir, 'sso-03-signed-in.png') });
  return Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ');
});

// ---------------------------------------------------------------- 5. sign-out

await check('signing out shows the dialog with the SSO button again; the old cookie is refused', async () => {
  const cookie = (await cookies()).session.value;
  const before = await getFromNode('/api/me', cookie);
  if (before.status !== 200 || before.body?.name !== me.name) throw new Error(`the live cookie replayed from Node: ${before.status} ${JSON.stringify(before.body)}`);
  const reloaded = page.waitForEvent('load', { timeout: 10_000 });
  await page.getByRole('button', { name: 'Se déconnecter' }).click();
  await reloaded;
  await dialogShown();
  await ssoButton().waitFor({ state: 'visible', timeout: 5_000 });
  if (await page.evaluate(() => !!window.vigieMap)) throw new Error('the map is still there after signing out');
  if ((await cookies()).session) throw new Error('the session cookie is still in the browser after signing out');
  const after = await getFromNode('/api/me', cookie);
  if (after.status !== 401) throw new Error(`the old cookie replayed after sign-out: GET /api/me answered ${after.status}`);
  await page.screenshot({ path: join(outDir, 'sso-04-signed-out.png') });
  return `GET /api/me with the cookie: ${before.status} before, ${after.status} after signing out`;
});

// ---------------------------------------------------------------- 6. single sign-on

await check('the SSO button again: the provider remembers the login, no login page', async () => {
  const at = Date.now();
  await ssoButton().click();
  await page.waitForURL((u) => onVigie(u) && !u.pathname.startsWith('/auth/'), { timeout: 10_000 });
  const pages = toProvider.filter((r) => r.at >= at && r.url.pathname.startsWith('/interaction/'));
  if (pages.length) throw new Error(`the provider showed ${pages.map((r) => r.url.pathname).join(', ')}`);
  if (!toProvider.some((r) => r.at >= at && r.url.pathname === '/auth')) throw new Error('the browser did not go through the provider');
  await page.waitForFunction(() => window.vigie?.me, null, { timeout: 10_000 });
  const r = await meFromPage();
  if (r.status !== 200 || r.body?.name !== me.name || r.body?.role !== 'reader') throw new Error(`GET /api/me: ${r.status} ${JSON.stringify(r.body)}`);
  await mapRenders();
  return `signed in again as ${r.body.name} without typing anything`;
});

// ---------------------------------------------------------------- 7. errors

await check('no page error, no 5xx, no 4xx but the 401 of /api/me before signing in', async () => {
  if (pageErrors.length) throw new Error(`uncaught page errors: ${pageErrors.join(' | ')}`);
  const bad = responses.filter((r) => r.status >= 500 || (r.status >= 400 && !(r.status === 401 && r.path === '/api/me')));
  if (bad.length) throw new Error(`failed requests: ${bad.slice(0, 8).map((r) => `${r.status} ${r.method} ${r.path}`).join(', ')}`);
  return `${responses.length} responses from vigie, ${toProvider.length} requests to the provider`;
});

await finish(0);
console.log(`\nSSO browser tests: ${results.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`screenshots: ${outDir}/sso-*.png`);
