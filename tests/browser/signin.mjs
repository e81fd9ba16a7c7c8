#!/usr/bin/env node
// Signing in to the hypervision page in a real browser: Debian's Chromium driven by
// playwright-core, against a vigie that requires it (started by tests/e2e/browser.rs with
// `--demo --require-sign-in`, an analyst and a reader account created beforehand with
// `vigie user add`).
//
//   VIGIE_TEST_ANALYST=alice:PASSWORD VIGIE_TEST_READER=rita:PASSWORD \
//     node tests/browser/signin.mjs http://127.0.0.1:8080
//
// Checks, each failing with a message that says what went wrong:
//   1. without a session the page shows the sign-in dialog and asks the server for no data
//      (no tile, catalog, style or entry request at all; the server answers 401 to them)
//   2. a wrong password keeps the dialog up with the server's reason; the dialog switches to
//      English and back
//   3. repeated failures on one account: the 429 is shown with the wait the server gives
//   4. signing in as the analyst renders the map (queryRenderedFeatures per layer) and the
//      header names the account and its role
//   5. an entry made with the form is the analyst's (its author, read back from the API), the
//      POST carried the session's CSRF token and no X-Vigie-User (though the hidden operator
//      field holds another name); the analyst gets the qualification buttons
//   6. a session revoked elsewhere: the next request's 401 brings the dialog back; signing in
//      again resumes in place (no reload), tiles, list and event stream come back
//   7. signing out shows the dialog again and clears the cookie; the old cookie, replayed from
//      Node, gets 401 where it got 200 just before
//   8. the reader sees no entry-creation control and no qualification button (the note says
//      which role it takes), and the server refuses the reader's POST anyway
//   9. no page error, no 5xx, no 403 but the one provoked in 8 (a change without its CSRF
//      token would be one)
// Screenshots: tests/out/signin-*.png. Exits 1 on the first failed check; a missing Chromium
// or playwright-core is a failure with what to install, never a skip.

import { join } from 'node:path';
import { baseUrl, checker, fail, launchOrFail, outDir, results, started } from './harness.mjs';
import { emptySpot as emptyMapSpot, mapRenders as mapDrawn, waitIdle as mapIdle } from './map.mjs';

const base = baseUrl('VIGIE_TEST_ANALYST=name:password VIGIE_TEST_READER=name:password node tests/browser/signin.mjs http://127.0.0.1:PORT');

/** `name:password` from an environment variable. */
function account(variable) {
  const v = process.env[variable] || '';
  const at = v.indexOf(':');
  if (at < 1 || at === v.length - 1) fail(`${variable} must be name:password (an account made with \`vigie user add\`)`);
  return { name: v.slice(0, at), password: v.slice(at + 1) };
}
const analyst = account('VIGIE_TEST_ANALYST');
const reader = account('VIGIE_TEST_READER');
const SESSION_COOKIE = 'vigie_session';

/** GET /api/me from Node, with a session cookie or none: `{status, body}`. */
async function meFromNode(cookie) {
  const r = await fetch(`${base}/api/me`, { headers: cookie ? { Cookie: `${SESSION_COOKIE}=${cookie}` } : {} });
  return { status: r.status, body: await r.json().catch(() => null) };
}

const anonymous = await meFromNode(null);
if (anonymous.status !== 401) fail(`GET /api/me without a session answered ${anonymous.status}: start vigie with --require-sign-in`);


// ---------------------------------------------------------------- browser

const { context, close: closeBrowser } = await launchOrFail();

/** Every response: `{method, path, status, at}` (at: ms since the script started). */
const responses = [];
const pageErrors = [];
context.on('response', (r) => {
  const u = new URL(r.url());
  if (u.origin !== new URL(base).origin) return;
  responses.push({ method: r.request().method(), path: u.pathname, status: r.status(), at: Date.now() });
});
// The hidden operator field holds another name: the page must not send it for an account.
await context.addInitScript(() => {
  if (!localStorage.getItem('vigie.operator')) localStorage.setItem('vigie.operator', 'mallory');
});


let page = context.pages()[0] || (await context.newPage());
page.on('pageerror', (e) => pageErrors.push(e.message));

const { check, finish } = checker({ prefix: 'signin-', page: () => page, close: closeBrowser, errors: () => (pageErrors.length ? `\n  page errors: ${pageErrors.join(' | ')}` : '') });

/** Paths that carry data (anything but the page, its assets and the identity probe). */
const isData = (path) => !(path === '/' || path.startsWith('/web/') || path === '/api/me' || path === '/api/session' || path === '/api/auth/methods');
const isTile = (path) => path.startsWith('/tiles/') && path.endsWith('.mvt');

const dialog = () => page.locator('#signin');
const dialogShown = (timeout = 5_000) => page.waitForFunction(() => document.getElementById('signin')?.open, null, { timeout, polling: 50 });
const dialogGone = (timeout = 5_000) => page.waitForFunction(() => !document.getElementById('signin')?.open, null, { timeout, polling: 50 });

async function signIn(who) {
  await page.locator('#signin-name').fill(who.name);
  await page.locator('#signin-password').fill(who.password);
  const answer = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/session');
  await page.locator('#signin-submit').click();
  return answer;
}

const mapRenders = () => mapDrawn(page);

const waitIdle = () => mapIdle(page);
const emptySpot = () => emptyMapSpot(page);



/** The session cookie the browser holds now, or null. */
async function sessionCookie() {
  return (await context.cookies(base)).find((c) => c.name === SESSION_COOKIE)?.value || null;
}

// ---------------------------------------------------------------- 1. no session

await check('without a session: the sign-in dialog, and no data reaches the page', async () => {
  await page.goto(`${base}/#map=12.00/48.86200/2.30000&lang=fr`, { waitUntil: 'networkidle' });
  await dialogShown();
  await page.getByRole('dialog', { name: 'Connexion à vigie' }).waitFor({ timeout: 2_000 });
  if (!(await page.locator('#signin-name').evaluate((el) => el === document.activeElement))) throw new Error('the account name field does not have the focus');
  // Give a page that would load data anyway the time to ask for it.
  await page.waitForTimeout(1_000);
  const asked = responses.filter((r) => isData(r.path));
  if (asked.length) throw new Error(`the page asked for data before signing in: ${asked.slice(0, 5).map((r) => `${r.status} ${r.method} ${r.path}`).join(', ')}`);
  if (!responses.some((r) => r.path === '/api/me' && r.status === 401)) throw new Error('no GET /api/me answered 401: the page did not ask who it is');
  if (await page.evaluate(() => !!window.vigieMap)) throw new Error('the map was built before signing in');
  if (await page.locator('#map-error').isVisible()) throw new Error(`an error shows over the map: ${await page.locator('#map-error').textContent()}`);
  // What the page did not ask for, the server would have refused: a tile and the catalog.
  const refused = await page.evaluate(async () => Promise.all(['/catalog', '/tiles/venues/12/2074/1408.mvt', '/api/entries?limit=1'].map(async (u) => `${u} ${(await fetch(u)).status}`)));
  if (!refused.every((s) => s.endsWith(' 401'))) throw new Error(`without a session the server answered: ${refused.join(', ')}`);
  if (responses.some((r) => isTile(r.path) && r.status === 200)) throw new Error('a tile was answered 200 before signing in');
  await page.screenshot({ path: join(outDir, 'signin-01-dialog.png') });
  return `dialog up, focus on the name; no data request; the server refuses them: ${refused.join(', ')}`;
});

// ---------------------------------------------------------------- 2. wrong password

await check('a wrong password is refused with the server\u2019s reason', async () => {
  const r = await signIn({ name: analyst.name, password: `${analyst.password}-faux` });
  if (r.status() !== 401) throw new Error(`POST /api/session with a wrong password answered ${r.status()}`);
  const err = page.locator('#signin-error');
  await err.filter({ hasText: 'unknown account or wrong password' }).waitFor({ timeout: 3_000 });
  if (!(await dialog().evaluate((d) => d.open))) throw new Error('the dialog closed after a refused sign-in');
  if (await page.locator('#signin-password').inputValue()) throw new Error('the refused password is still in its field');
  await page.screenshot({ path: join(outDir, 'signin-02-wrong-password.png') });
  await page.locator('#signin-lang').click();
  await page.getByRole('dialog', { name: 'Sign in to vigie' }).waitFor({ timeout: 2_000 });
  const english = await err.textContent();
  if (!/^Sign-in refused/.test(english)) throw new Error(`the error is not in English after switching: "${english}"`);
  await page.locator('#signin-lang').click();
  await page.getByRole('dialog', { name: 'Connexion à vigie' }).waitFor({ timeout: 2_000 });
  if (responses.some((x) => isData(x.path) && x.status === 200)) throw new Error('data was answered 200 after a refused sign-in');
  return `"${await err.textContent()}"; in English: "${english}"`;
});

// ---------------------------------------------------------------- 3. throttled

await check('repeated failures: the dialog shows the wait of the 429', async () => {
  const intruder = { name: 'intrus', password: 'pas-le-bon-mot-de-passe' };
  let last = null;
  for (let i = 0; i < 10 && last?.status() !== 429; i += 1) last = await signIn(intruder);
  if (last.status() !== 429) throw new Error(`10 failed sign-ins of one account were never throttled (last: ${last.status()})`);
  const wait = Number(last.headers()['retry-after']);
  if (!(wait > 0)) throw new Error(`the 429 has no usable Retry-After: ${last.headers()['retry-after']}`);
  const text = await page.locator('#signin-error').filter({ hasText: /réessayez dans \d+ s/ }).textContent({ timeout: 3_000 });
  if (!text.includes(`${wait} s`)) throw new Error(`the message "${text}" does not give the server's wait (${wait} s)`);
  return `"${text}" (Retry-After: ${wait})`;
});

// ---------------------------------------------------------------- 4. the analyst signs in

let signedInAt;
await check(`signing in as ${analyst.name} renders the map and names the account`, async () => {
  const r = await signIn(analyst);
  if (r.status() !== 200) throw new Error(`POST /api/session answered ${r.status()}`);
  signedInAt = Date.now();
  await dialogGone();
  const counts = await mapRenders();
  await waitIdle();
  const who = await page.evaluate(() => ({
    name: document.getElementById('identity-name').textContent,
    role: document.getElementById('identity-role').textContent,
    signOut: !document.getElementById('sign-out').hidden,
    operator: !document.getElementById('operator-field').hidden,
    me: window.vigie.me,
  }));
  if (who.name !== analyst.name || who.role !== 'analyste' || !who.signOut) throw new Error(`the header shows ${JSON.stringify(who)}`);
  if (who.operator) throw new Error('the operator field is still shown for an account');
  if (who.me.kind !== 'account' || !who.me.csrf || !who.me.can.qualify) throw new Error(`the page's identity: ${JSON.stringify(who.me)}`);
  const tiles = responses.filter((x) => isTile(x.path) && x.at >= signedInAt);
  if (!tiles.length || tiles.some((x) => x.status !== 200 && x.status !== 204)) throw new Error(`tiles after signing in: ${tiles.slice(0, 5).map((x) => `${x.status} ${x.path}`).join(', ')}`);
  await page.screenshot({ path: join(outDir, 'signin-03-analyst.png') });
  return `${JSON.stringify(counts)}; header "${who.name} · ${who.role}"; ${tiles.length} tiles answered`;
});

// ---------------------------------------------------------------- 5. an entry by the analyst

await check(`an entry made with the form is ${analyst.name}'s (CSRF token, no X-Vigie-User)`, async () => {
  if ((await page.locator('#operator').inputValue()) !== 'mallory') throw new Error('the hidden operator field should hold "mallory" for this check');
  await page.getByRole('button', { name: 'Nouvelle entrée' }).click();
  await page.locator('#tool-hint').waitFor({ state: 'visible', timeout: 2_000 });
  const spot = await emptySpot();
  if (!spot) throw new Error('no empty spot on the map to place the entry');
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + spot.x, box.y + spot.y);
  const title = `Saisie de ${analyst.name} ${Date.now()}`;
  await page.locator('#f-title').fill(title);
  await page.locator('#entry-form input[name="theme"]').first().check();
  const posted = page.waitForRequest((q) => q.method() === 'POST' && new URL(q.url()).pathname === '/api/entries');
  await page.locator('#f-submit').click();
  const req = await posted;
  const headers = await req.allHeaders();
  const csrf = await page.evaluate(() => window.vigie.me.csrf);
  if (headers['x-csrf-token'] !== csrf) throw new Error(`the POST's X-CSRF-Token is ${headers['x-csrf-token']}, the session's ${csrf}`);
  if ('x-vigie-user' in headers) throw new Error(`the POST sent X-Vigie-User: ${headers['x-vigie-user']}`);
  const resp = await req.response();
  if (resp.status() !== 201) throw new Error(`POST /api/entries answered ${resp.status()}: ${await resp.text()}`);
  const popup = page.locator('.maplibregl-popup .popup');
  await popup.locator('h3', { hasText: title }).waitFor({ timeout: 5_000 });
  await popup.getByRole('button', { name: 'Mettre en examen' }).waitFor({ timeout: 5_000 });
  const saved = await page.evaluate(async (q) => (await (await fetch(`/api/entries?q=${encodeURIComponent(q)}&qualification=all`)).json()).entries, title);
  if (saved.length !== 1) throw new Error(`the API finds ${saved.length} entries titled "${title}"`);
  if (saved[0].author !== analyst.name) throw new Error(`the entry's author is "${saved[0].author}", not "${analyst.name}"`);
  await page.screenshot({ path: join(outDir, 'signin-04-entry.png') });
  return `entry ${saved[0].id} by ${saved[0].author}; the popup offers "Mettre en examen"`;
});

// ---------------------------------------------------------------- 6. revoked elsewhere

await check('a session revoked elsewhere brings the dialog back; signing in again resumes in place', async () => {
  await page.keyboard.press('Escape');
  const cookie = await sessionCookie();
  const csrf = await page.evaluate(() => window.vigie.me.csrf);
  if (!cookie) throw new Error(`no ${SESSION_COOKIE} cookie in the browser`);
  // Signed out from another place (same cookie, from Node): the page does not know yet.
  const out = await fetch(`${base}/api/session`, { method: 'DELETE', headers: { Cookie: `${SESSION_COOKIE}=${cookie}`, 'X-CSRF-Token': csrf } });
  if (out.status !== 204) throw new Error(`DELETE /api/session from Node answered ${out.status}`);
  // The server may serve a resolved session from memory for a moment: wait until it refuses it.
  const deadline = Date.now() + 5_000;
  while ((await meFromNode(cookie)).status !== 401) {
    if (Date.now() > deadline) throw new Error('the revoked session is still accepted 5 s later');
    await new Promise((ok) => setTimeout(ok, 100));
  }
  await page.evaluate(() => {
    window.__samePage = true;
  });
  // The next request the page makes (the list, limited to the view) answers 401.
  const revokedAt = Date.now();
  await page.getByRole('checkbox', { name: 'Limiter à la vue' }).check();
  await dialogShown().catch((e) => {
    throw new Error(`${e.message}; since the revocation: ${responses.filter((x) => x.at >= revokedAt).map((x) => `${x.status} ${x.method} ${x.path}`).join(', ')}`);
  });
  const reason = await page.locator('#signin-reason').textContent();
  if (!/session a expiré/.test(reason)) throw new Error(`the dialog does not say the session ended: "${reason}"`);
  await page.screenshot({ path: join(outDir, 'signin-05-expired.png') });
  // Taken before signing in: the page may reload the list as soon as the answer comes, before
  // this script runs again on a busy machine (until then every request of the page is a 401).
  const at = Date.now();
  const r = await signIn(analyst);
  if (r.status() !== 200) throw new Error(`signing in again answered ${r.status()}`);
  await dialogGone();
  if (!(await page.evaluate(() => window.__samePage === true))) throw new Error('the page reloaded instead of resuming');
  await page.waitForFunction(() => window.vigie.events?.readyState === 1, null, { timeout: 5_000 });
  await page.locator('#courante-list li').first().waitFor({ timeout: 5_000 });
  await waitIdle();
  const tiles = responses.filter((x) => isTile(x.path) && x.at >= at);
  if (!tiles.some((x) => x.status === 200)) throw new Error('no tile was fetched again after signing in again');
  const list = responses.filter((x) => x.path === '/api/entries' && x.at >= at);
  if (!list.some((x) => x.status === 200)) throw new Error('the list was not loaded again after signing in again');
  await page.getByRole('checkbox', { name: 'Limiter à la vue' }).uncheck();
  return `"${reason}"; resumed without reload: event stream open, ${tiles.length} tiles and the list fetched again`;
});

// ---------------------------------------------------------------- 7. sign-out

await check('signing out shows the dialog again; the old cookie is refused', async () => {
  const cookie = await sessionCookie();
  const before = await meFromNode(cookie);
  if (before.status !== 200 || before.body?.name !== analyst.name) throw new Error(`the live cookie replayed from Node: ${before.status} ${JSON.stringify(before.body)}`);
  const reloaded = page.waitForEvent('load', { timeout: 10_000 });
  await page.getByRole('button', { name: 'Se déconnecter' }).click();
  await reloaded;
  await dialogShown();
  if (await page.evaluate(() => !!window.vigieMap)) throw new Error('the map is still there after signing out');
  if (await sessionCookie()) throw new Error('the session cookie is still in the browser after signing out');
  const after = await meFromNode(cookie);
  if (after.status !== 401) throw new Error(`the old cookie replayed after sign-out: GET /api/me answered ${after.status}`);
  return `GET /api/me with the cookie: ${before.status} before, ${after.status} after signing out`;
});

// ---------------------------------------------------------------- 8. the reader

await check(`${reader.name} (reader) sees no entry creation and no qualification button`, async () => {
  const r = await signIn(reader);
  if (r.status() !== 200) throw new Error(`POST /api/session answered ${r.status()}`);
  await dialogGone();
  await mapRenders();
  const role = await page.locator('#identity-role').textContent();
  if (role !== 'lecteur') throw new Error(`the header's role is "${role}"`);
  if (await page.getByRole('button', { name: 'Nouvelle entrée' }).count()) throw new Error('a "Nouvelle entrée" button is offered to a reader');
  const note = await page.locator('#courante-role').textContent();
  if (!/contributeur/.test(note)) throw new Error(`nothing says which role filing entries takes: "${note}"`);
  // An entry whose workflow has a next step: the analyst would see buttons here.
  const item = page.locator('#courante-list li:not([data-qualification="closed"]) .entry-open').first();
  await item.waitFor({ timeout: 5_000 });
  await item.click();
  const popup = page.locator('.maplibregl-popup .popup');
  // The full entry is loaded (its body replaces the "loading" note).
  await popup.locator('.body').waitFor({ state: 'attached', timeout: 5_000 });
  const buttons = await popup.locator('[data-action]').count();
  if (buttons) throw new Error(`${buttons} qualification buttons in the reader's popup`);
  const needs = await popup.locator('[data-needs-role]').textContent();
  if (!/analyste/.test(needs)) throw new Error(`the popup does not say qualifying takes the analyst role: "${needs}"`);
  await page.screenshot({ path: join(outDir, 'signin-06-reader.png') });
  // The server refuses what the page hides (CSRF token included, so only the role is at stake).
  const status = await page.evaluate(async () => {
    const resp = await fetch('/api/entries', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': window.vigie.me.csrf },
      body: JSON.stringify({ title: 'interdit', severity: 1, lon: 2.3, lat: 48.86 }),
    });
    return resp.status;
  });
  if (status !== 403) throw new Error(`the reader's POST /api/entries answered ${status}`);
  return `no creation control ("${note}"); popup: "${needs}"; the server answers ${status} to the reader's POST`;
});

// ---------------------------------------------------------------- 9. errors

await check('no page error, no 5xx, no 403 but the provoked one', async () => {
  if (pageErrors.length) throw new Error(`uncaught page errors: ${pageErrors.join(' | ')}`);
  const bad = responses.filter((r) => r.status >= 500 || (r.status === 403 && !(r.method === 'POST' && r.path === '/api/entries')));
  if (bad.length) throw new Error(`failed requests: ${bad.slice(0, 8).map((r) => `${r.status} ${r.method} ${r.path}`).join(', ')}`);
  const forbidden = responses.filter((r) => r.status === 403);
  if (forbidden.length !== 1) throw new Error(`${forbidden.length} answers 403, expected exactly the reader's POST`);
  return `${responses.length} responses`;
});

await finish(0);
console.log(`\nsign-in browser tests: ${results.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`screenshots: ${outDir}/signin-*.png`);
