#!/usr/bin/env node
// The catalog editor of the hypervision page in a real browser: Debian's Chromium driven by
// playwright-core, against vigie serving the demo on loopback (tests/e2e/browser.rs starts it
// with `--demo --demo-entries N`: anonymous requests act as the demo identity, role admin).
//
//   node tests/browser/catalog.mjs http://127.0.0.1:8080
//
// Checks, each failing with a message that says what went wrong:
//   1. GET /api/me is the admin demo identity; the page renders the map and offers the
//      "Catalogue" button (and hides it from an identity that is not admin)
//   2. the dialog lists the themes and layers of GET /api/catalog, every control labelled
//   3. a new theme whose id is taken is refused in the form (nothing sent); theme cyber_ops
//      (#8e44ad, log-entry tag) is created: GET /api/catalog has it, the version moved
//   4. entries layer cyber-incidents (tags cyber, theme cyber_ops, visible) is created: without
//      a reload, the layer panel shows it ticked under its theme, the map style has its layers
//      and the composite tile URL (style source and the tiles the browser asks) lists it;
//      GET /catalog lists it with its tags and a new version; its features render when the API
//      has cyber entries in view
//   5. a layer with the invalid id "Bad Id!": the server's 422 detail is shown in the dialog,
//      and neither GET /catalog nor GET /api/catalog changed
//   6. deleting theme cyber_ops while cyber-incidents uses it: the 422 detail (naming the
//      layer) is shown, the theme stays
//   7. a change made elsewhere meanwhile (PUT from Node): saving the form answers 412, the
//      dialog says so and shows the reloaded catalog, the form keeps the field typed here and
//      takes the other change; saving again stores both
//   8. a layer added and removed from Node reaches the page through the event stream's
//      reconnection (the server ends the stream on a catalog change), without a reload
//   9. deleting the layer then the theme: gone from the panel, the style, the tile URL and
//      GET /catalog; Escape closes the dialog and the focus returns to its button
//  10. no reload happened, no uncaught page error, no console error, no failed request but
//      the ones provoked on purpose
// Screenshots: tests/out/catalog-*.png. Exits 1 on the first failed check; a missing Chromium
// or playwright-core is a failure with what to install, never a skip.

import { join } from 'node:path';
import { baseUrl, fail, launchOrFail, outDir, results, nodeApi, requireDemoAdmin, started, watchPage } from './harness.mjs';
import { mapRenders, waitIdle } from './map.mjs';

const base = baseUrl('node tests/browser/catalog.mjs http://127.0.0.1:PORT (a running vigie serve --demo on loopback)');
const origin = new URL(base).origin;

const THEME = { id: 'cyber_ops', title: 'Cyber (veille)', title_en: 'Cyber watch', color: '#8e44ad' };
const LAYER = { id: 'cyber-incidents', title: 'Incidents cyber', title_en: 'Cyber incidents', tags: ['cyber'] };
const NODE_LAYER = 'cyber-node';
const BAD_ID = 'Bad Id!';

/** Requests from Node. */
const api = nodeApi(base, { 'Content-Type': 'application/json' });

// ---------------------------------------------------------------- prerequisites

const me = await requireDemoAdmin(api);
const startCatalog = (await api('/catalog')).body;
if (!Number.isInteger(startCatalog?.version)) fail(`GET /catalog has no integer "version": ${JSON.stringify(startCatalog).slice(0, 200)}`);
const startAdmin = await api('/api/catalog');
if (startAdmin.status !== 200) fail(`GET /api/catalog answered ${startAdmin.status}: the server has no catalog API`);
for (const id of [THEME.id]) if (startAdmin.body.themes.some((th) => th.id === id)) fail(`theme ${id} is already in the catalog: start from a fresh demo`);
for (const id of [LAYER.id, NODE_LAYER]) if (startAdmin.body.layers.some((l) => l.id === id)) fail(`layer ${id} is already in the catalog: start from a fresh demo`);
const takenTheme = startAdmin.body.themes.find((th) => th.id === 'cyber') || startAdmin.body.themes[0];
const newest = (await api('/api/entries?limit=1&qualification=all')).body?.entries?.[0];
if (!newest) fail('GET /api/entries returned no entry: start vigie with --demo');
const DAY = 86_400_000;
const newestMs = Date.parse(newest.occurred_at);
// The demo's time span (as run.mjs): the map shows its entries.
const range = { from: new Date(Math.floor((newestMs - 60 * DAY) / DAY) * DAY).toISOString(), to: new Date(Math.ceil((newestMs + DAY) / DAY) * DAY).toISOString() };
const view = { lon: 2.3, lat: 48.862, zoom: 12 };
const hash = `#map=${view.zoom.toFixed(2)}/${view.lat.toFixed(5)}/${view.lon.toFixed(5)}&from=${encodeURIComponent(range.from)}&to=${encodeURIComponent(range.to)}`;

// ---------------------------------------------------------------- browser

const { context, close } = await launchOrFail();
const tileUrls = [];
context.on('request', (r) => {
  const u = new URL(r.url());
  if (u.origin === origin && u.pathname.startsWith('/tiles/') && u.pathname.endsWith('.mvt')) tileUrls.push(u);
});
const { page, check, finish, expectedFailures, badResponses, pageErrors, consoleErrors } = await watchPage(context, { prefix: 'catalog-', close });

const dialog = page.locator('#catalog-dialog');
const formError = page.locator('#catalog-error');

/** What the page shows of a catalog layer: panel checkbox, style layers, tile URL, page catalog. */
const pageView = (id) =>
  page.evaluate((id) => {
    const box = document.getElementById(`layer-${id}`);
    const style = window.vigieMap.getStyle();
    const url = style.sources.vigie.tiles[0];
    const ids = decodeURIComponent(new URL(url).pathname.split('/')[2]).split(',');
    return {
      panel: box ? { checked: box.checked, label: box.closest('label').textContent, theme: box.closest('fieldset').querySelector('legend').textContent } : null,
      styleLayers: style.layers.filter((l) => l['source-layer'] === id).map((l) => `${l.id}:${l.layout?.visibility}`),
      inTileUrl: ids.includes(id),
      inCatalog: window.vigie.layersById.has(id),
      version: window.vigie.catalog.version,
      reloaded: !window.__catalogNoReload,
    };
  }, id);

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

/** Waits for the answer to `method` on a catalog path while `action` runs: `{status, body}`. */
async function answerTo(method, pathPart, action) {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === method && decodeURIComponent(new URL(r.url()).pathname).startsWith(pathPart), { timeout: 10_000 }),
    action(),
  ]);
  return { status: resp.status(), body: await resp.json().catch(() => null) };
}

// ---------------------------------------------------------------- 1. the page, the button

await check('the map renders and the admin gets the Catalogue button', async () => {
  await page.goto(`${base}/${hash}`, { waitUntil: 'domcontentloaded' });
  const counts = await mapRenders(page);
  await page.evaluate(() => (window.__catalogNoReload = true));
  const button = page.getByRole('button', { name: 'Catalogue', exact: true });
  if (!(await button.isVisible())) throw new Error('no visible "Catalogue" button for the admin');
  // An identity that is not admin (as the page would learn from /api/me): no button.
  const hidden = await page.evaluate(() => {
    const me = window.vigie.me;
    window.vigie.me = { ...me, role: 'analyst', can: { ...me.can, admin: false } };
    window.vigie.session.applyRoles();
    const h = document.getElementById('catalog-open').hidden;
    window.vigie.me = me;
    window.vigie.session.applyRoles();
    return h && !document.getElementById('catalog-open').hidden;
  });
  if (!hidden) throw new Error('the button is not hidden from an identity without can.admin');
  return `me: ${me.body.name} (${me.body.role}); rendered ${JSON.stringify(counts)}`;
});

// ---------------------------------------------------------------- 2. the dialog

await check('the dialog lists the themes and layers of GET /api/catalog, controls labelled', async () => {
  await page.getByRole('button', { name: 'Catalogue', exact: true }).click();
  await dialog.waitFor({ state: 'visible', timeout: 5_000 });
  await page.locator('#catalog-themes li').first().waitFor({ timeout: 5_000 });
  const shown = await page.evaluate(() => ({
    themes: [...document.querySelectorAll('#catalog-themes [data-theme]')].map((li) => li.dataset.theme),
    layers: [...document.querySelectorAll('#catalog-layers [data-layer]')].map((li) => li.dataset.layer),
    status: document.getElementById('catalog-status').textContent,
  }));
  const want = { themes: startAdmin.body.themes.map((th) => th.id), layers: startAdmin.body.layers.map((l) => l.id) };
  if (shown.themes.join() !== want.themes.join()) throw new Error(`themes listed ${shown.themes} instead of ${want.themes}`);
  if (shown.layers.join() !== want.layers.join()) throw new Error(`layers listed ${shown.layers} instead of ${want.layers}`);
  if (!shown.status.includes(String(startAdmin.body.version))) throw new Error(`the status line does not give the version ${startAdmin.body.version}: "${shown.status}"`);
  // Every control of the dialog and of both forms has an accessible name.
  const unnamed = async () =>
    page.evaluate(() => {
      const out = [];
      for (const el of document.querySelectorAll('#catalog-dialog button, #catalog-dialog input, #catalog-dialog select, #catalog-dialog textarea')) {
        const name = (el.getAttribute('aria-label') || '').trim() || (el.labels && [...el.labels].map((l) => l.textContent).join(' ').trim()) || (el.tagName === 'BUTTON' ? el.textContent.trim() : '');
        if (!name) out.push(el.outerHTML.slice(0, 120));
      }
      return out;
    });
  await page.locator('#catalog-new-layer').click();
  await page.locator('#cl-id').waitFor();
  let missing = await unnamed();
  await page.locator('#catalog-new-theme').click();
  await page.locator('#ct-id').waitFor();
  missing = missing.concat(await unnamed());
  if (missing.length) throw new Error(`controls without an accessible name:\n  ${missing.join('\n  ')}`);
  if (!(await page.evaluate(() => document.activeElement?.id === 'ct-id'))) throw new Error('the new-theme form does not put the focus on its first field');
  await page.screenshot({ path: join(outDir, 'catalog-1-dialog.png') });
  return `${shown.themes.length} themes, ${shown.layers.length} layers; "${shown.status}"`;
});

// ---------------------------------------------------------------- 3. a theme

let version = startAdmin.body.version;

await check(`theme ${THEME.id} is created (a taken id is refused in the form)`, async () => {
  let puts = 0;
  const count = (r) => r.request().method() === 'PUT' && (puts += 1);
  page.on('request', count);
  await page.fill('#ct-id', takenTheme.id);
  await page.fill('#ct-title', 'Doublon');
  await page.locator('#catalog-save').click();
  const taken = await formError.textContent();
  page.off('request', count);
  if (!taken.includes(takenTheme.id) || puts) throw new Error(`creating theme ${takenTheme.id} again: error "${taken}", ${puts} PUT sent`);
  await page.fill('#ct-id', THEME.id);
  await page.fill('#ct-title', THEME.title);
  await page.fill('#ct-title_en', THEME.title_en);
  await page.fill('#ct-color', THEME.color);
  if (!(await page.locator('#ct-entry_tag').isChecked())) await page.locator('#ct-entry_tag').check();
  const answer = await answerTo('PUT', `/api/catalog/themes/${THEME.id}`, () => page.locator('#catalog-save').click());
  if (answer.status !== 201) throw new Error(`PUT /api/catalog/themes/${THEME.id} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  await page.locator(`#catalog-themes [data-theme="${THEME.id}"]`).waitFor({ timeout: 5_000 });
  const stored = (await api('/api/catalog')).body;
  const th = stored.themes.find((x) => x.id === THEME.id);
  if (!th || th.color !== THEME.color || th.entry_tag !== true || th.title !== THEME.title || th.title_en !== THEME.title_en) throw new Error(`GET /api/catalog has ${JSON.stringify(th)}`);
  if (!(stored.version > version)) throw new Error(`the version did not move: ${version} → ${stored.version}`);
  version = stored.version;
  await until(() => page.evaluate((id) => window.vigie.themes.has(id), THEME.id), 5_000, 'the page catalog does not have the new theme');
  return `"${taken}"; stored ${JSON.stringify(th)}, version ${version}`;
});

// ---------------------------------------------------------------- 4. a layer

let catalogVersion = null;

await check(`layer ${LAYER.id} is created and shown without a reload`, async () => {
  const tilesBefore = tileUrls.length;
  await page.locator('#catalog-new-layer').click();
  await page.fill('#cl-id', LAYER.id);
  await page.fill('#cl-title', LAYER.title);
  await page.fill('#cl-title_en', LAYER.title_en);
  await page.fill('#cl-description', 'Entrées étiquetées cyber (couche créée par le test du catalogue).');
  await page.selectOption('#cl-theme', THEME.id);
  await page.selectOption('#cl-kind', 'entries');
  await page.fill('#cl-tags', LAYER.tags.join(', '));
  if (!(await page.locator('#cl-visible').isChecked())) await page.locator('#cl-visible').check();
  // The rows of other kinds are hidden.
  if (await page.locator('#cl-dataset').isVisible()) throw new Error('the dataset field shows for an entries layer');
  const answer = await answerTo('PUT', `/api/catalog/layers/${LAYER.id}`, () => page.locator('#catalog-save').click());
  if (answer.status !== 201) throw new Error(`PUT /api/catalog/layers/${LAYER.id} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  if (!(answer.body?.version > version)) throw new Error(`the answer's version ${answer.body?.version} did not move from ${version}`);
  version = answer.body.version;
  const shown = await until(
    async () => {
      const v = await pageView(LAYER.id);
      return v.panel && v.styleLayers.length && v.inTileUrl ? v : null;
    },
    10_000,
    `the page does not show ${LAYER.id} (panel, style layers, tile URL) after the PUT`,
  );
  if (shown.reloaded) throw new Error('the page was reloaded');
  if (!shown.panel.checked) throw new Error(`the ${LAYER.id} checkbox is not ticked (visible: true)`);
  if (!shown.panel.label.includes(LAYER.title) || !shown.panel.theme.includes(THEME.title)) throw new Error(`panel: ${JSON.stringify(shown.panel)}`);
  if (!shown.styleLayers.every((s) => s.endsWith(':visible'))) throw new Error(`style layers not visible: ${shown.styleLayers}`);
  // The browser asks tiles listing the new layer.
  const asked = await until(
    () => tileUrls.slice(tilesBefore).find((u) => decodeURIComponent(u.pathname.split('/')[2]).split(',').includes(LAYER.id)),
    10_000,
    () => `no tile request lists ${LAYER.id} (last: ${tileUrls.at(-1)?.pathname})`,
  );
  const cat = (await api('/catalog')).body;
  const l = cat.layers.find((x) => x.id === LAYER.id);
  if (!l || l.theme !== THEME.id || l.kind !== 'entries' || JSON.stringify(l.tags) !== JSON.stringify(LAYER.tags) || !l.visible) throw new Error(`GET /catalog lists ${JSON.stringify(l)}`);
  if (!(cat.version > startCatalog.version)) throw new Error(`GET /catalog version ${cat.version} did not move from ${startCatalog.version}`);
  if (shown.version !== cat.version) throw new Error(`the page holds version ${shown.version}, GET /catalog ${cat.version}`);
  catalogVersion = cat.version;
  // Its features render when the log has cyber entries in view.
  const b = await page.evaluate(() => window.vigieMap.getBounds().toArray().flat().map((x) => x.toFixed(5)).join(','));
  const inView = (await api(`/api/entries?tags=${LAYER.tags.join(',')}&bbox=${b}&from=${encodeURIComponent(range.from)}&to=${encodeURIComponent(range.to)}&limit=1`)).body?.entries?.length;
  let drawn = 'no cyber entry in view: rendering not checked';
  if (inView) {
    await waitIdle(page);
    const n = await until(
      () => page.evaluate((id) => window.vigieMap.queryRenderedFeatures().filter((f) => f.sourceLayer === id).length, LAYER.id),
      10_000,
      `the API has cyber entries in view but no ${LAYER.id} feature renders`,
    );
    drawn = `${n} features rendered`;
  }
  await page.screenshot({ path: join(outDir, 'catalog-2-layer.png') });
  return `panel "${shown.panel.label}" under "${shown.panel.theme}"; style ${shown.styleLayers.length} layers; tile ${asked.pathname}; version ${cat.version}; ${drawn}`;
});

// ---------------------------------------------------------------- 5. an invalid layer

await check(`a layer with id "${BAD_ID}" gets the server's 422 detail in the dialog, nothing changes`, async () => {
  await page.locator('#catalog-new-layer').click();
  await page.fill('#cl-id', BAD_ID);
  await page.fill('#cl-title', 'Mauvais identifiant');
  expectedFailures.push(`PUT /api/catalog/layers/${BAD_ID} 422`);
  const answer = await answerTo('PUT', '/api/catalog/layers/', () => page.locator('#catalog-save').click());
  if (answer.status !== 422) throw new Error(`PUT answered ${answer.status}, expected 422: ${JSON.stringify(answer.body)}`);
  const detail = answer.body?.detail;
  if (!detail) throw new Error(`the 422 has no detail: ${JSON.stringify(answer.body)}`);
  await until(async () => (await formError.textContent()).includes(detail), 3_000, async () => `the dialog shows "${await formError.textContent()}", not the detail "${detail}"`);
  if (!(await formError.isVisible())) throw new Error('the error is not visible');
  if ((await page.locator('#cl-id').getAttribute('aria-invalid')) !== 'true') throw new Error('the id field is not marked invalid');
  const cat = (await api('/catalog')).body;
  const stored = (await api('/api/catalog')).body;
  if (cat.version !== catalogVersion || stored.version !== version) throw new Error(`the versions moved: /catalog ${catalogVersion} → ${cat.version}, /api/catalog ${version} → ${stored.version}`);
  if (cat.layers.some((l) => l.id === BAD_ID)) throw new Error('the bad layer is listed');
  await page.screenshot({ path: join(outDir, 'catalog-3-invalid.png') });
  await page.locator('#catalog-cancel').click();
  return `"${await page.evaluate(() => document.activeElement?.id)}" focused after cancel; detail "${detail}"`;
});

// ---------------------------------------------------------------- 6. a theme in use

await check(`deleting theme ${THEME.id} while ${LAYER.id} uses it shows the 422 detail`, async () => {
  await page.locator(`[data-delete-theme="${THEME.id}"]`).click();
  expectedFailures.push(`DELETE /api/catalog/themes/${THEME.id} 422`);
  const answer = await answerTo('DELETE', `/api/catalog/themes/${THEME.id}`, () => page.locator('#catalog-save').click());
  if (answer.status !== 422) throw new Error(`DELETE answered ${answer.status}, expected 422`);
  const text = await formError.textContent();
  if (!text.includes(answer.body.detail) || !text.includes(LAYER.id)) throw new Error(`the dialog shows "${text}" (detail: "${answer.body.detail}")`);
  if (!(await api('/api/catalog')).body.themes.some((th) => th.id === THEME.id)) throw new Error('the theme is gone');
  await page.keyboard.press('Escape'); // closes the form, not the dialog
  if (!(await dialog.isVisible()) || (await page.locator('#catalog-editor').isVisible())) throw new Error('Escape did not close just the form');
  return `"${text}"`;
});

// ---------------------------------------------------------------- 7. a stale version

await check('a change made elsewhere meanwhile: 412, reloaded, saved the second time', async () => {
  await page.locator(`[data-edit-theme="${THEME.id}"]`).click();
  await page.fill('#ct-title', 'Cyber (veille renforcée)');
  // Someone else changes the catalog (from Node) while the form is open.
  const other = await api(`/api/catalog/themes/${THEME.id}`, {
    method: 'PUT',
    headers: { 'If-Match': `"${version}"` },
    body: JSON.stringify({ title: 'Cyber (autre poste)', title_en: THEME.title_en, color: '#123456', entry_tag: true }),
  });
  if (other.status !== 200) throw new Error(`the PUT from Node answered ${other.status}: ${JSON.stringify(other.body)}`);
  expectedFailures.push(`PUT /api/catalog/themes/${THEME.id} 412`);
  const stale = await answerTo('PUT', `/api/catalog/themes/${THEME.id}`, () => page.locator('#catalog-save').click());
  if (stale.status !== 412) throw new Error(`the stale PUT answered ${stale.status}, expected 412`);
  const said = await until(async () => {
    const s = await formError.textContent();
    return /modifié par quelqu’un d’autre/.test(s) ? s : null;
  }, 5_000, 'the dialog does not say the catalog changed meanwhile');
  await until(
    () => page.locator(`#catalog-themes [data-theme="${THEME.id}"]`).textContent().then((s) => s.includes('autre poste')),
    5_000,
    'the list was not reloaded with the other change',
  );
  // The form keeps the title typed here and takes the other change to the colour.
  const form = await page.evaluate(() => ({ title: document.getElementById('ct-title').value, color: document.getElementById('ct-color').value }));
  if (form.title !== 'Cyber (veille renforcée)' || form.color !== '#123456') throw new Error(`after the 412 the form holds ${JSON.stringify(form)}`);
  const again = await answerTo('PUT', `/api/catalog/themes/${THEME.id}`, () => page.locator('#catalog-save').click());
  if (again.status !== 200) throw new Error(`saving again answered ${again.status}: ${JSON.stringify(again.body)}`);
  const th = (await api('/api/catalog')).body.themes.find((x) => x.id === THEME.id);
  if (th.title !== 'Cyber (veille renforcée)' || th.color !== '#123456') throw new Error(`stored ${JSON.stringify(th)}`);
  version = again.body.version;
  await until(
    () => page.evaluate((id) => document.getElementById(`layer-${id}`)?.closest('fieldset').querySelector('legend').textContent, LAYER.id).then((s) => s?.includes('veille renforcée')),
    10_000,
    'the layer panel does not show the renamed theme',
  );
  return `"${said}"; then saved (version ${version})`;
});

// ---------------------------------------------------------------- 8. changes from elsewhere

await check('a layer added and removed from Node reaches the page through the event stream', async () => {
  const put = await api(`/api/catalog/layers/${NODE_LAYER}`, {
    method: 'PUT',
    body: JSON.stringify({ title: 'Cyber (depuis Node)', title_en: 'Cyber (from Node)', theme: THEME.id, kind: 'entries', tags: ['cyber'], visible: true }),
  });
  if (put.status !== 201) throw new Error(`PUT from Node answered ${put.status}: ${JSON.stringify(put.body)}`);
  const t0 = Date.now();
  await until(async () => (await pageView(NODE_LAYER)).panel?.checked, 20_000, `the page does not show ${NODE_LAYER} 20 s after it was added`);
  const shownMs = Date.now() - t0;
  // The dialog's lists follow too (no form open).
  await page.locator(`#catalog-layers [data-layer="${NODE_LAYER}"]`).waitFor({ timeout: 5_000 });
  const del = await api(`/api/catalog/layers/${NODE_LAYER}`, { method: 'DELETE' });
  if (del.status !== 200) throw new Error(`DELETE from Node answered ${del.status}`);
  await until(async () => !(await pageView(NODE_LAYER)).inCatalog, 20_000, `the page still has ${NODE_LAYER} 20 s after it was deleted`);
  version = del.body.version;
  const v = await pageView(NODE_LAYER);
  if (v.panel || v.styleLayers.length || v.inTileUrl) throw new Error(`${NODE_LAYER} left traces: ${JSON.stringify(v)}`);
  await until(() => page.locator('#live').getAttribute('data-state').then((s) => s === 'on'), 15_000, 'the event stream is not back on');
  return `shown ${shownMs} ms after the PUT, gone after the DELETE; stream back on`;
});

// ---------------------------------------------------------------- 9. deleting

await check(`deleting ${LAYER.id} then ${THEME.id}: gone from the panel, the style and GET /catalog`, async () => {
  const a = await answerTo('DELETE', `/api/catalog/layers/${LAYER.id}`, async () => {
    await page.locator(`[data-delete-layer="${LAYER.id}"]`).click();
    await page.locator('#catalog-save').click();
  });
  if (a.status !== 200) throw new Error(`DELETE layer answered ${a.status}: ${JSON.stringify(a.body)}`);
  await until(async () => {
    const v = await pageView(LAYER.id);
    return !v.panel && !v.styleLayers.length && !v.inTileUrl && !v.inCatalog;
  }, 10_000, async () => `${LAYER.id} is still on the page: ${JSON.stringify(await pageView(LAYER.id))}`);
  const b = await answerTo('DELETE', `/api/catalog/themes/${THEME.id}`, async () => {
    await page.locator(`[data-delete-theme="${THEME.id}"]`).click();
    await page.locator('#catalog-save').click();
  });
  if (b.status !== 200) throw new Error(`DELETE theme answered ${b.status}: ${JSON.stringify(b.body)}`);
  await until(() => page.evaluate((id) => !window.vigie.themes.has(id), THEME.id), 10_000, 'the page still has the theme');
  const legends = await page.evaluate(() => [...document.querySelectorAll('#layer-groups legend')].map((l) => l.textContent));
  if (legends.some((l) => l.includes('Cyber (veille'))) throw new Error(`the panel still groups under the theme: ${legends}`);
  if (await page.locator(`#catalog-themes [data-theme="${THEME.id}"], #catalog-layers [data-layer="${LAYER.id}"]`).count()) throw new Error('the dialog still lists them');
  const cat = (await api('/catalog')).body;
  if (cat.layers.some((l) => l.id === LAYER.id) || cat.themes.some((th) => th.id === THEME.id)) throw new Error('GET /catalog still lists them');
  const ids = (c) => JSON.stringify([c.themes.map((th) => th.id), c.layers.map((l) => l.id)]);
  if (ids(cat) !== ids(startCatalog)) throw new Error(`the catalog is not back to its start: ${ids(cat)}`);
  const v = await pageView(LAYER.id);
  if (v.version !== cat.version) throw new Error(`the page holds version ${v.version}, GET /catalog ${cat.version}`);
  await page.screenshot({ path: join(outDir, 'catalog-4-deleted.png') });
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden', timeout: 3_000 });
  const focused = await page.evaluate(() => document.activeElement?.id);
  if (focused !== 'catalog-open') throw new Error(`after Escape the focus is on #${focused}, not the Catalogue button`);
  return `back to ${cat.themes.length} themes and ${cat.layers.length} layers (version ${cat.version}); focus back on #${focused}`;
});

// ---------------------------------------------------------------- 10. errors

await check('no reload, no page error, no unexpected failed request', async () => {
  if (await page.evaluate(() => !window.__catalogNoReload)) throw new Error('the page was reloaded');
  if (pageErrors.length) throw new Error(`uncaught page errors: ${pageErrors.join(' | ')}`);
  if (consoleErrors.length) throw new Error(`console errors: ${consoleErrors.slice(0, 5).join(' | ')}`);
  // Tiles the page asked for while the Node layer existed, answered after its deletion: a 404
  // naming the layer is the right answer (the page drops the layer on the event that follows).
  const raced = (k) => k.startsWith('GET /tiles/') && k.endsWith(' 404') && k.split(' ')[1].split('/')[2].split(',').includes(NODE_LAYER);
  const bad = badResponses.filter((k) => !raced(k));
  if (bad.length) throw new Error(`failed requests: ${bad.slice(0, 10).join(', ')}`);
  if (expectedFailures.length) throw new Error(`provoked failures that never came: ${expectedFailures.join(', ')}`);
  return `${tileUrls.length} tile requests (${badResponses.length - bad.length} for ${NODE_LAYER} answered 404 after its deletion)`;
});

await finish(0);
console.log(`\ncatalog browser tests: ${results.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`screenshots: ${outDir}/catalog-*.png`);
