#!/usr/bin/env node
// The "Sources & styles" dialog of the hypervision page in a real browser: Debian's Chromium
// driven by playwright-core, against vigie serving the demo on loopback (tests/e2e/browser.rs
// starts it with `--demo --demo-entries N`: anonymous requests act as the demo identity, role
// admin).
//
//   node tests/browser/settings.mjs http://127.0.0.1:8080
//
// Checks, each failing with a message that says what went wrong:
//   1. the admin gets the "Sources et styles" button (an identity that is not admin does not)
//   2. the dialog shows that no source is stored (version 0), lists the server's styles, every
//      control labelled
//   3. sources with a path out of the workspace's folder: the server's 422 is shown grouped by
//      source (naming "up" and its reason), a TOML syntax error shows its detail with the line,
//      and the stored document did not change (GET /api/sources/config from the page)
//   4. a valid source "dep" is saved: version 1 shown, the state table lists it as this
//      workspace's, and its run (the file is not there) shows failed with its error within
//      seconds, by the dialog's polling alone
//   5. a version stored elsewhere meanwhile (PUT from Node): saving answers 412, the dialog says
//      so, keeps the text typed here and shows the stored one; saving again stores the text
//   6. style "night" (the served hypervision style with another background) uploaded from a
//      file: listed as this workspace's, GET /styles has it
//   7. an id the server refuses is refused in the form (nothing sent); an invalid style pasted:
//      the server's 422 detail is shown, nothing stored
//   8. style "hypervision" uploaded: marked as overriding the server's, the map's background
//      changes without a reload; deleted (after a confirmation): the server's is back on the map
//   9. "night" deleted after a confirmation: gone from the list and GET /styles; the dialog
//      follows a change of language
//  10. Escape closes the dialog, the focus returns to its button, the polling stops
//  11. no reload happened, no uncaught page error, no console error, no failed request but the
//      ones provoked on purpose
// Screenshots: tests/out/settings-*.png. Exits 1 on the first failed check; a missing Chromium
// or playwright-core is a failure with what to install, never a skip.

import { join } from 'node:path';
import { baseUrl, fail, launchOrFail, outDir, results, nodeApi, requireDemoAdmin, started, watchPage } from './harness.mjs';
import { mapRenders } from './map.mjs';

const base = baseUrl('node tests/browser/settings.mjs http://127.0.0.1:PORT (a running vigie serve --demo on loopback)');
const origin = new URL(base).origin;

/** One `[[source]]` entry; its keys come before any `[source.mapping]` sub-table (TOML). */
const sourceEntry = (id, title, location) =>
  `[[source]]\nid = "${id}"\ntitle = "${title}"\nowner = "IGN"\nlicence = "Licence Ouverte 2.0"\nlayer = "departements"\n${location}\nrefresh_s = 0\n`;
const BAD_SOURCES = `${sourceEntry('up', 'Hors du dossier', 'path = "../x.geojson"')}`;
const SYNTAX_ERROR = '[[source]\nid = "dep"\n';
const GOOD_SOURCES = `${sourceEntry('dep', 'Départements', 'path = "dep.geojson"')}\n[source.mapping]\ntitle = "nom"\n`;
const MINE = GOOD_SOURCES.replace('title = "Départements"', 'title = "Départements (salle de crise)"');
const THEIRS = GOOD_SOURCES.replace('title = "Départements"', 'title = "Départements (autre poste)"');
const NIGHT_BACKGROUND = '#0b1a2e';
const OVERRIDE_BACKGROUND = '#102030';

/** Requests from Node. */
const api = nodeApi(base);

// ---------------------------------------------------------------- prerequisites

await requireDemoAdmin(api);
const startConfig = await api('/api/sources/config');
if (startConfig.status !== 200 || startConfig.headers.get('etag') !== '"0"') fail(`GET /api/sources/config answered ${startConfig.status} ETag ${startConfig.headers.get('etag')}: start from a fresh demo`);
const startStyles = await api('/styles');
if (startStyles.status !== 200 || startStyles.body.styles.some((s) => s.origin !== 'server')) fail(`GET /styles answered ${startStyles.status} ${JSON.stringify(startStyles.body)}: start from a fresh demo`);
const served = await api('/styles/hypervision.json');
if (served.status !== 200) fail(`GET /styles/hypervision.json answered ${served.status}`);
const newest = (await api('/api/entries?limit=1&qualification=all')).body?.entries?.[0];
if (!newest) fail('GET /api/entries returned no entry: start vigie with --demo');
// The demo's time span and a view of Paris (as catalog.mjs): the map draws entries.
const DAY = 86_400_000;
const newestMs = Date.parse(newest.occurred_at);
const range = { from: new Date(Math.floor((newestMs - 60 * DAY) / DAY) * DAY).toISOString(), to: new Date(Math.ceil((newestMs + DAY) / DAY) * DAY).toISOString() };
const hash = `#map=12.00/48.86200/2.30000&from=${encodeURIComponent(range.from)}&to=${encodeURIComponent(range.to)}`;
/** The served hypervision style with another background colour. */
function restyled(colour) {
  const style = structuredClone(served.body);
  const bg = style.layers.find((l) => l.type === 'background');
  bg.paint = { ...(bg.paint || {}), 'background-color': colour };
  return style;
}

// ---------------------------------------------------------------- browser

const { context, close } = await launchOrFail();
/** Every request the page made to GET /api/sources, with its time. */
const polls = [];
context.on('request', (r) => {
  const u = new URL(r.url());
  if (u.origin === origin && u.pathname === '/api/sources' && r.method() === 'GET') polls.push(Date.now());
});
const { page, check, finish, expectedFailures, badResponses, pageErrors, consoleErrors } = await watchPage(context, { prefix: 'settings-', close });

const dialog = page.locator('#settings-dialog');
const sourcesError = page.locator('#sources-error');
const styleError = page.locator('#style-error');
const opener = () => page.getByRole('button', { name: 'Sources et styles', exact: true });

/** Polls `fn` (async, truthy when done) every 100 ms for `ms`; its last value, or throws `what`. */
async function until(fn, ms, what) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error(typeof what === 'function' ? what() : what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits for the answer to `method` on `path` while `action` runs: `{status, body}`. */
async function answerTo(method, path, action) {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === method && decodeURIComponent(new URL(r.url()).pathname) === path, { timeout: 10_000 }),
    action(),
  ]);
  const text = await resp.text().catch(() => '');
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: resp.status(), body };
}

/** GET /api/sources/config from the page: `{status, etag, text}`. */
const storedFromPage = () =>
  page.evaluate(async () => {
    const r = await window.vigie.apiFetch('/api/sources/config', { cache: 'no-store' });
    return { status: r.status, etag: r.headers.get('ETag'), text: await r.text() };
  });

/** The map's background colour. */
const mapBackground = () => page.evaluate(() => window.vigieMap.getStyle().layers.find((l) => l.type === 'background')?.paint?.['background-color']);

/** What the styles list shows: `{id: {origin, overrides, meta, href, deletable}}`. */
const listedStyles = () =>
  page.evaluate(() =>
    Object.fromEntries(
      [...document.querySelectorAll('#styles-list [data-style]')].map((li) => [
        li.dataset.style,
        {
          origin: li.dataset.origin,
          overrides: li.dataset.overrides === 'true',
          meta: li.querySelector('.catalog-meta').textContent,
          href: li.querySelector('a')?.getAttribute('href'),
          deletable: !!li.querySelector('[data-delete-style]'),
        },
      ]),
    ),
  );

// ---------------------------------------------------------------- 1. the button

let originalBackground = null;

await check('the admin gets the "Sources et styles" button, others do not', async () => {
  await page.goto(`${base}/${hash}`, { waitUntil: 'domcontentloaded' });
  await mapRenders(page);
  await page.evaluate(() => (window.__settingsNoReload = true));
  if (!(await opener().isVisible())) throw new Error('no visible "Sources et styles" button for the admin');
  const hidden = await page.evaluate(() => {
    const me = window.vigie.me;
    window.vigie.me = { ...me, role: 'analyst', can: { ...me.can, admin: false } };
    window.vigie.session.applyRoles();
    const h = document.getElementById('settings-open').hidden;
    window.vigie.me = me;
    window.vigie.session.applyRoles();
    return h && !document.getElementById('settings-open').hidden;
  });
  if (!hidden) throw new Error('the button is not hidden from an identity without can.admin');
  originalBackground = await mapBackground();
  return `next to "${await page.locator('#settings-open').evaluate((b) => b.previousElementSibling.textContent)}"; map background ${originalBackground}`;
});

// ---------------------------------------------------------------- 2. the dialog

await check('the dialog: nothing stored yet, the server styles, every control labelled', async () => {
  await opener().click();
  await dialog.waitFor({ state: 'visible', timeout: 5_000 });
  await until(async () => (await page.locator('#sources-version').textContent()).includes('version 0'), 5_000, async () => `the version line says "${await page.locator('#sources-version').textContent()}"`);
  await page.locator('#styles-list [data-style="hypervision"]').waitFor({ timeout: 5_000 });
  const listed = await listedStyles();
  for (const s of startStyles.body.styles) {
    if (listed[s.id]?.origin !== 'server' || listed[s.id].deletable) throw new Error(`style ${s.id} listed as ${JSON.stringify(listed[s.id])}`);
  }
  if (!listed.hypervision.meta.includes('serveur')) throw new Error(`hypervision's line says "${listed.hypervision.meta}"`);
  // The state table answers for itself within a poll.
  await until(async () => (await page.locator('#sources-empty').textContent()).includes('Aucune source'), 5_000, 'the dialog does not say that the workspace has no source');
  const help = await page.locator('#sources-help').textContent();
  if (!/relatif au dossier de sources/.test(help) || !/publique/.test(help)) throw new Error(`the help says "${help}"`);
  const unnamed = await page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('#settings-dialog button, #settings-dialog input, #settings-dialog select, #settings-dialog textarea, #settings-dialog a')) {
      const name =
        (el.getAttribute('aria-label') || '').trim() ||
        (el.labels && [...el.labels].map((l) => l.textContent).join(' ').trim()) ||
        (['BUTTON', 'A'].includes(el.tagName) ? el.textContent.trim() : '');
      if (!name) out.push(el.outerHTML.slice(0, 120));
    }
    return out;
  });
  if (unnamed.length) throw new Error(`controls without an accessible name:\n  ${unnamed.join('\n  ')}`);
  await page.screenshot({ path: join(outDir, 'settings-1-dialog.png') });
  return `styles ${Object.keys(listed).join(', ')}; "${await page.locator('#sources-version').textContent()}"`;
});

// ---------------------------------------------------------------- 3. invalid sources

await check('invalid sources: every problem shown by source, nothing stored', async () => {
  await page.fill('#sources-text', BAD_SOURCES);
  expectedFailures.push('PUT /api/sources/config 422');
  const answer = await answerTo('PUT', '/api/sources/config', () => page.locator('#sources-save').click());
  if (answer.status !== 422) throw new Error(`PUT answered ${answer.status}, expected 422: ${JSON.stringify(answer.body)}`);
  const reason = answer.body?.errors?.find((e) => e.field === 'source[up]')?.reason;
  if (!reason) throw new Error(`the 422 names no problem of source[up]: ${JSON.stringify(answer.body)}`);
  const shown = await until(
    () => page.evaluate(() => [...document.querySelectorAll('#sources-error [data-error-source]')].map((li) => ({ id: li.dataset.errorSource, text: li.textContent }))),
    3_000,
    'no grouped error in the dialog',
  );
  const up = shown.find((g) => g.id === 'up');
  if (!up || !up.text.includes('Source up') || !up.text.includes(reason)) throw new Error(`the dialog shows ${JSON.stringify(shown)}, not "${reason}" under source up`);
  if (!(await sourcesError.isVisible())) throw new Error('the error is not visible');
  if ((await page.locator('#sources-text').getAttribute('aria-invalid')) !== 'true') throw new Error('the text is not marked invalid');
  if ((await page.locator('#sources-text').inputValue()) !== BAD_SOURCES) throw new Error('the text typed was changed');
  // The source's name takes the cursor to its entry.
  await page.locator('#sources-error [data-error-source="up"] button').click();
  const selected = await page.evaluate(() => {
    const ta = document.getElementById('sources-text');
    return document.activeElement === ta ? ta.value.slice(ta.selectionStart, ta.selectionEnd) : null;
  });
  if (!selected?.includes('"up"')) throw new Error(`going to source up selected ${JSON.stringify(selected)}`);
  // A syntax error: the detail, with its line.
  await page.fill('#sources-text', SYNTAX_ERROR);
  expectedFailures.push('PUT /api/sources/config 422');
  const syntax = await answerTo('PUT', '/api/sources/config', () => page.locator('#sources-save').click());
  if (syntax.status !== 422 || !/line 1/.test(syntax.body?.detail || '')) throw new Error(`the syntax error answered ${syntax.status} ${JSON.stringify(syntax.body)}`);
  // Its first line in the message, the excerpt as it is (aligned on the column), the line a click away.
  const [head, ...excerpt] = syntax.body.detail.split('\n');
  await until(async () => (await sourcesError.textContent()).includes(head), 3_000, async () => `the dialog shows "${await sourcesError.textContent()}", not "${head}"`);
  const pre = await sourcesError.locator('pre').textContent();
  if (pre !== excerpt.join('\n').trimEnd()) throw new Error(`the excerpt shown is ${JSON.stringify(pre)}`);
  await sourcesError.getByRole('button', { name: 'Aller à la ligne 1' }).click();
  const line = await page.evaluate(() => {
    const ta = document.getElementById('sources-text');
    return ta.value.slice(ta.selectionStart, ta.selectionEnd);
  });
  if (line !== '[[source]') throw new Error(`going to line 1 selected ${JSON.stringify(line)}`);
  const stored = await storedFromPage();
  if (stored.status !== 200 || stored.etag !== '"0"' || stored.text !== '') throw new Error(`GET /api/sources/config: ${JSON.stringify(stored)}`);
  await page.screenshot({ path: join(outDir, 'settings-2-invalid.png') });
  return `"${up.text}"; then "${head}"; still version 0`;
});

// ---------------------------------------------------------------- 4. a valid source

await check('source "dep" is saved: version 1, listed as this workspace\'s, its failed run shown', async () => {
  await page.fill('#sources-text', GOOD_SOURCES);
  const answer = await answerTo('PUT', '/api/sources/config', () => page.locator('#sources-save').click());
  if (answer.status !== 200) throw new Error(`PUT answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  await until(async () => (await page.locator('#sources-version').textContent()).includes('1'), 3_000, async () => `the version line says "${await page.locator('#sources-version').textContent()}"`);
  const status = await page.locator('#sources-status').textContent();
  if (!status.includes('version 1')) throw new Error(`the status says "${status}"`);
  if ((await sourcesError.textContent()) !== '') throw new Error(`an error is still shown: "${await sourcesError.textContent()}"`);
  const row = page.locator('#sources-rows tr[data-source="dep"]');
  await row.waitFor({ timeout: 3_000 });
  const origin = await row.getAttribute('data-origin');
  const cells = await row.locator('td').allTextContents();
  if (origin !== 'workspace' || !cells[0].includes('cet espace') || !cells[1].includes('departements') || !cells[2].includes('dep.geojson')) throw new Error(`the row of dep: ${origin} ${JSON.stringify(cells)}`);
  // The file is not in the workspace's folder: the run fails, and the polling shows it.
  const t0 = Date.now();
  const failed = await until(
    () => row.evaluate((tr) => (tr.querySelector('[data-outcome]')?.dataset.outcome === 'failed' ? tr.lastElementChild.textContent : null)),
    20_000,
    async () => `the row of dep does not show a failed run: ${JSON.stringify(await row.locator('td').allTextContents())}`,
  );
  const stored = await storedFromPage();
  if (stored.etag !== '"1"' || stored.text !== GOOD_SOURCES) throw new Error(`stored: ${JSON.stringify(stored)}`);
  const error = (await (await fetch(`${base}/api/sources`)).json()).sources.find((s) => s.id === 'dep')?.last_run?.error;
  if (!error || !failed.includes(error)) throw new Error(`the row shows "${failed}", not the run's error "${error}"`);
  if (!(await page.locator('#sources-polled').textContent())) throw new Error('no time of the last poll');
  await page.screenshot({ path: join(outDir, 'settings-3-source.png') });
  return `failed run shown ${Date.now() - t0} ms after the save: "${failed}"`;
});

// ---------------------------------------------------------------- 5. a stale version

await check('a version stored elsewhere meanwhile: 412, the text typed here kept, saved the second time', async () => {
  await page.fill('#sources-text', MINE);
  const other = await api('/api/sources/config', { method: 'PUT', headers: { 'Content-Type': 'application/toml', 'If-Match': '"1"' }, body: THEIRS });
  if (other.status !== 200) throw new Error(`the PUT from Node answered ${other.status}: ${JSON.stringify(other.body)}`);
  expectedFailures.push('PUT /api/sources/config 412');
  const stale = await answerTo('PUT', '/api/sources/config', () => page.locator('#sources-save').click());
  if (stale.status !== 412) throw new Error(`the stale PUT answered ${stale.status}, expected 412`);
  const said = await until(async () => {
    const s = await sourcesError.textContent();
    return /modifiées par quelqu’un d’autre/.test(s) ? s : null;
  }, 5_000, 'the dialog does not say the sources changed meanwhile');
  if (!said.includes('version 2')) throw new Error(`the message does not give the stored version: "${said}"`);
  if (await page.locator('#sources-text').getAttribute('aria-invalid')) throw new Error('a conflict marks the text invalid');
  if ((await page.locator('#sources-text').inputValue()) !== MINE) throw new Error('the text typed here was not kept');
  const theirs = page.locator('#sources-theirs');
  if (!(await theirs.isVisible()) || !(await theirs.locator('pre').textContent()).includes('autre poste')) throw new Error('the stored version is not shown');
  await page.screenshot({ path: join(outDir, 'settings-4-stale.png') });
  const again = await answerTo('PUT', '/api/sources/config', () => page.locator('#sources-save').click());
  if (again.status !== 200) throw new Error(`saving again answered ${again.status}: ${JSON.stringify(again.body)}`);
  const stored = await storedFromPage();
  if (stored.etag !== '"3"' || stored.text !== MINE) throw new Error(`stored: ${JSON.stringify(stored)}`);
  await until(async () => !(await theirs.isVisible()) && (await sourcesError.textContent()) === '', 3_000, 'the 412 message or the stored version stays after saving');
  await until(async () => (await page.locator('#sources-version').textContent()).includes('3'), 3_000, 'the version line does not say 3');
  return `"${said}"; then stored as version 3`;
});

// ---------------------------------------------------------------- 6. a style from a file

await check('style "night" uploaded from a file: listed as this workspace\'s', async () => {
  await page.fill('#style-id', 'night');
  await page.setInputFiles('#style-file', { name: 'night.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(restyled(NIGHT_BACKGROUND))) });
  const answer = await answerTo('PUT', '/api/styles/night', () => page.locator('#style-send').click());
  if (answer.status !== 201) throw new Error(`PUT /api/styles/night answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  await page.locator('#styles-list [data-style="night"]').waitFor({ timeout: 3_000 });
  const night = (await listedStyles()).night;
  if (night.origin !== 'workspace' || night.overrides || !night.meta.includes('cet espace') || !night.deletable) throw new Error(`night listed as ${JSON.stringify(night)}`);
  if (night.href !== '/styles/night.json') throw new Error(`night's link goes to ${night.href}`);
  const list = (await api('/styles')).body;
  if (list.styles.find((s) => s.id === 'night')?.origin !== 'workspace') throw new Error(`GET /styles: ${JSON.stringify(list)}`);
  const style = (await api('/styles/night.json')).body;
  if (style.layers.find((l) => l.type === 'background').paint['background-color'] !== NIGHT_BACKGROUND) throw new Error('GET /styles/night.json is not the style sent');
  const status = await page.locator('#styles-status').textContent();
  if (!status.includes('night')) throw new Error(`the status says "${status}"`);
  if ((await mapBackground()) !== originalBackground) throw new Error('the map changed for a style it does not draw with');
  if (await page.locator('#style-id').inputValue()) throw new Error('the form was not emptied');
  return `"${status}"; "${night.meta}"`;
});

// ---------------------------------------------------------------- 7. refused styles

await check('a bad id is refused in the form; an invalid style gets the 422 detail, nothing stored', async () => {
  let puts = 0;
  const count = (r) => r.method() === 'PUT' && (puts += 1);
  page.on('request', count);
  await page.fill('#style-id', 'Bad Id');
  await page.fill('#style-text', JSON.stringify(restyled('#000000')));
  await page.locator('#style-send').click();
  const bad = await styleError.textContent();
  page.off('request', count);
  if (puts || !bad.includes('a-z')) throw new Error(`id "Bad Id": error "${bad}", ${puts} PUT sent`);
  if ((await page.locator('#style-id').getAttribute('aria-invalid')) !== 'true') throw new Error('the id field is not marked invalid');
  const broken = restyled('#000000');
  broken.version = 7;
  await page.fill('#style-id', 'broken');
  await page.fill('#style-text', JSON.stringify(broken));
  expectedFailures.push('PUT /api/styles/broken 422');
  const answer = await answerTo('PUT', '/api/styles/broken', () => page.locator('#style-send').click());
  if (answer.status !== 422 || !answer.body?.detail?.includes('version must be 8')) throw new Error(`PUT answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  await until(async () => (await styleError.textContent()).includes(answer.body.detail), 3_000, async () => `the dialog shows "${await styleError.textContent()}", not "${answer.body.detail}"`);
  if (!(await styleError.isVisible())) throw new Error('the error is not visible');
  if ((await page.locator('#style-text').inputValue()) !== JSON.stringify(broken)) throw new Error('the pasted style was not kept');
  const list = (await api('/styles')).body;
  if (list.styles.some((s) => s.id === 'broken')) throw new Error('GET /styles lists "broken"');
  if ((await listedStyles()).broken) throw new Error('the dialog lists "broken"');
  await page.screenshot({ path: join(outDir, 'settings-5-style-invalid.png') });
  return `"${bad}"; "${answer.body.detail}"`;
});

// ---------------------------------------------------------------- 8. the map's own style

await check('style "hypervision" overridden then deleted: the map follows without a reload', async () => {
  await page.fill('#style-id', 'hypervision');
  const note = await page.locator('#style-id-note').textContent();
  if (!note.includes('serveur')) throw new Error(`the id note says "${note}"`);
  await page.fill('#style-text', JSON.stringify(restyled(OVERRIDE_BACKGROUND)));
  const answer = await answerTo('PUT', '/api/styles/hypervision', () => page.locator('#style-send').click());
  if (answer.status !== 200) throw new Error(`PUT /api/styles/hypervision answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  await until(async () => (await mapBackground()) === OVERRIDE_BACKGROUND, 5_000, async () => `the map's background is ${await mapBackground()}, not ${OVERRIDE_BACKGROUND}`);
  const hv = (await listedStyles()).hypervision;
  if (hv.origin !== 'workspace' || !hv.overrides || !hv.meta.includes('remplace le style du serveur') || !hv.deletable) throw new Error(`hypervision listed as ${JSON.stringify(hv)}`);
  const status = await page.locator('#styles-status').textContent();
  if (!status.includes('La carte utilise maintenant ce style')) throw new Error(`the status says "${status}"`);
  await page.screenshot({ path: join(outDir, 'settings-6-override.png') });
  await page.locator('[data-delete-style="hypervision"]').click();
  const confirm = await page.locator('#style-confirm-text').textContent();
  if (!confirm.includes('hypervision') || !confirm.includes('serveur')) throw new Error(`the confirmation says "${confirm}"`);
  if (!(await page.evaluate(() => document.activeElement?.id === 'style-confirm-delete'))) throw new Error('the focus is not on the confirmation');
  const del = await answerTo('DELETE', '/api/styles/hypervision', () => page.locator('#style-confirm-delete').click());
  if (del.status !== 200) throw new Error(`DELETE answered ${del.status}: ${JSON.stringify(del.body)}`);
  await until(async () => (await mapBackground()) === originalBackground, 5_000, async () => `the map's background is ${await mapBackground()}, not back to ${originalBackground}`);
  await until(async () => (await listedStyles()).hypervision?.origin === 'server', 3_000, 'hypervision is not listed as the server\'s again');
  if (await page.evaluate(() => !window.__settingsNoReload)) throw new Error('the page was reloaded');
  const rendered = await mapRenders(page);
  return `"${status}"; back to ${originalBackground}; still renders ${JSON.stringify(rendered)}`;
});

// ---------------------------------------------------------------- 9. deleting night

await check('style "night" deleted after a confirmation; the dialog follows the language', async () => {
  await page.locator('[data-delete-style="night"]').click();
  await page.keyboard.press('Escape'); // closes the confirmation, not the dialog
  if (!(await dialog.isVisible()) || (await page.locator('#style-confirm').isVisible())) throw new Error('Escape did not close just the confirmation');
  if ((await listedStyles()).night === undefined) throw new Error('night went without a confirmation');
  const del = await answerTo('DELETE', '/api/styles/night', async () => {
    await page.locator('[data-delete-style="night"]').click();
    await page.locator('#style-confirm-delete').click();
  });
  if (del.status !== 200) throw new Error(`DELETE answered ${del.status}: ${JSON.stringify(del.body)}`);
  await until(async () => (await listedStyles()).night === undefined, 3_000, 'night is still listed');
  const list = (await api('/styles')).body;
  if (list.styles.some((s) => s.id === 'night' || s.origin !== 'server')) throw new Error(`GET /styles: ${JSON.stringify(list)}`);
  // English, then French again.
  await page.evaluate(() => window.vigie.view.switchLang('en'));
  const en = await page.evaluate(() => ({
    h: document.getElementById('settings-h').textContent,
    col: document.querySelector('#sources-table thead th:nth-child(2)').textContent,
    row: document.querySelector('#sources-rows tr[data-source="dep"] td').textContent,
    meta: document.querySelector('#styles-list [data-style="hypervision"] .catalog-meta').textContent,
  }));
  await page.evaluate(() => window.vigie.view.switchLang('fr'));
  if (en.h !== 'Workspace sources & styles' || en.col !== 'Defined by' || en.row !== 'this workspace' || !en.meta.startsWith('server')) throw new Error(`in English: ${JSON.stringify(en)}`);
  return `"${await page.locator('#styles-status').textContent()}"; English ${JSON.stringify(en)}`;
});

// ---------------------------------------------------------------- 10. closing

await check('Escape closes the dialog, the focus returns to its button, the polling stops', async () => {
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden', timeout: 3_000 });
  const focused = await page.evaluate(() => document.activeElement?.id);
  if (focused !== 'settings-open') throw new Error(`after Escape the focus is on #${focused}, not the button`);
  const before = polls.length;
  await new Promise((r) => setTimeout(r, 4_500));
  // One poll may have been on its way when the dialog closed.
  if (polls.length > before + 1) throw new Error(`${polls.length - before} polls of /api/sources after the dialog closed`);
  const gaps = polls.slice(1).map((t, i) => t - polls[i]);
  return `${polls.length} polls while open (median gap ${gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)]} ms), ${polls.length - before} after closing`;
});

// ---------------------------------------------------------------- 11. errors

await check('no reload, no page error, no console error, no unexpected failed request', async () => {
  if (await page.evaluate(() => !window.__settingsNoReload)) throw new Error('the page was reloaded');
  if (pageErrors.length) throw new Error(`uncaught page errors: ${pageErrors.join(' | ')}`);
  if (consoleErrors.length) throw new Error(`console errors: ${consoleErrors.slice(0, 5).join(' | ')}`);
  if (badResponses.length) throw new Error(`failed requests: ${badResponses.slice(0, 10).join(', ')}`);
  if (expectedFailures.length) throw new Error(`provoked failures that never came: ${expectedFailures.join(', ')}`);
  return 'clean';
});

await finish(0);
console.log(`\nsettings browser tests: ${results.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`screenshots: ${outDir}/settings-*.png`);
