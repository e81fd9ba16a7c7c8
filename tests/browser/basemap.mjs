#!/usr/bin/env node
// The catalog's basemap on the hypervision page, in a real browser: Debian's Chromium driven by
// playwright-core, against a vigie serving the demo (started by tests/e2e/basemap.rs). Two
// scenarios, one per server:
//
//   node tests/browser/basemap.mjs http://127.0.0.1:8080             the basemap is drawn
//   node tests/browser/basemap.mjs http://127.0.0.1:8080 --missing   its archive is missing
//
// Drawn: the catalog names a raster PMTiles layer `base` (every tile of z0..3 a solid
// rgb(200, 30, 30) PNG, attribution "© raster fixture") as its `basemap`. Checks, each failing
// with a message that says what went wrong:
//   1. at zoom 3 over France, the basemap is one raster layer on a source of its own, its tiles
//      on this server, right above the background and so under every operational layer; the
//      composite tile URL never lists it; the layer panel gives it its own switches ("Fond de
//      carte", greyscale), not a line under its theme; the attribution names the archive
//   2. pixels of the map away from any feature are the basemap's red
//   3. the "Fond de carte" switch hides it: the same pixels are no longer red, the link says
//      `basemap=off`, and a reload of that link keeps it hidden; switched on again, red again
//   4. greyscale: the same pixels are grey (r = g = b, darker than the background), the link
//      says `greyscale=on`
//   5. a new style (wall mode and back) keeps the basemap under the layers, shown and grey
//   6. English: the switch reads "Basemap"
//   7. no request left the server's origin, none failed, none for the tiles or TileJSON of a
//      layer GET /catalog marks unavailable (the bundled catalog's `fond`, not copied here); no
//      page or console error
//
// Missing: the catalog's basemap `absent` (PMTiles) and a visible reference layer `absent_ref`
// (MBTiles) name archives that are not in the archives folder, so GET /catalog marks both
// `unavailable` and their tiles answer 503. Checks:
//   1. the page loads with neither a source nor a style layer for them, and the composite tile
//      URL does not list them
//   2. the "Fond de carte" group is there, its switch disabled and off, with a note under it
//      giving the server's reason, in French and in English; `absent_ref` is listed under its
//      theme, its checkbox disabled and off, the reason as its tooltip
//   3. a link with `basemap=off&greyscale=on`, the basemap and layer switches called anyway and
//      a new style (wall mode and back) throw nothing and draw nothing of them
//   4. no request for their tiles nor their TileJSON was made; no request left the server's
//      origin, none failed; no page or console error
// Screenshots: tests/out/basemap-*.png. Exits 1 on the first failed check; a missing Chromium
// or playwright-core is a failure with what to install, never a skip.

import { join } from 'node:path';
import { baseUrl, fail, launchOrFail, nodeApi, outDir, results, sameOriginAndClean, started, watchPage } from './harness.mjs';
import { pixels, waitIdle } from './map.mjs';

const base = baseUrl('node tests/browser/basemap.mjs http://127.0.0.1:PORT [--missing] (vigie serve --demo with a raster basemap "base", or a missing one "absent")');
const origin = new URL(base).origin;
/** Which scenario: the basemap drawn, or its archive missing. */
const MISSING = process.argv[3] === '--missing';
/** The catalog's basemap layer, its style layer and source (web/js/style.js names them so). */
const BASEMAP = MISSING ? 'absent' : 'base';
const STYLE_LAYER = `${BASEMAP}-raster`;
const SOURCE = `archive-${BASEMAP}`;
/** The missing scenario's reference layer whose archive is missing too (not the basemap). */
const MISSING_REF = 'absent_ref';
/** The archive's attribution (tests/python/make_pmtiles.py RASTER_METADATA). */
const ATTRIBUTION = '© raster fixture';
/** Zoom 3 over France: the whole basemap is at its native zoom, the demo's features near Paris. */
const VIEW = '#map=3.00/46.50000/2.50000';

// ---------------------------------------------------------------- prerequisites

const api = nodeApi(base);
const catalog = (await api('/catalog')).body;
const layer = catalog?.layers?.find((l) => l.id === BASEMAP);
if (!MISSING && (catalog?.basemap !== BASEMAP || layer?.kind !== 'pmtiles' || layer?.format !== 'png' || layer?.unavailable)) {
  fail(`GET /catalog must name the raster PMTiles layer "${BASEMAP}" as its basemap: basemap ${JSON.stringify(catalog?.basemap)}, layer ${JSON.stringify(layer)}`);
}
/** The reason GET /catalog gives for each missing archive layer, by id. */
const reasons = new Map();
if (MISSING) {
  const ref = catalog?.layers?.find((l) => l.id === MISSING_REF);
  if (catalog?.basemap !== BASEMAP || layer?.kind !== 'pmtiles' || typeof layer?.unavailable !== 'string' || !layer.unavailable) {
    fail(`GET /catalog must name the PMTiles layer "${BASEMAP}" as its basemap, marked unavailable: basemap ${JSON.stringify(catalog?.basemap)}, layer ${JSON.stringify(layer)}`);
  }
  if (ref?.kind !== 'mbtiles' || ref?.visible !== true || typeof ref?.unavailable !== 'string' || !ref.unavailable) {
    fail(`GET /catalog must list the visible MBTiles layer "${MISSING_REF}", marked unavailable: ${JSON.stringify(ref)}`);
  }
  // What a request of the page for them would have met (and the failed-request check caught).
  for (const l of [layer, ref]) {
    const tile = await api(l.tiles.replace('{z}', '0').replace('{x}', '0').replace('{y}', '0'));
    if (tile.status !== 503) fail(`GET ${l.tiles} at 0/0/0 answered ${tile.status}, not 503: the archive of "${l.id}" is not missing`);
    reasons.set(l.id, l.unavailable);
  }
}

// ---------------------------------------------------------------- browser

const { context, close } = await launchOrFail();
const requests = [];
context.on('request', (r) => requests.push(r.url()));
const { page, check, finish, badResponses, pageErrors, consoleErrors } = await watchPage(context, { prefix: 'basemap-', close });

/** Where the basemap is in the style, and what the page's state and panel say of it. */
const basemapState = () =>
  page.evaluate(
    ({ STYLE_LAYER, SOURCE }) => {
      const map = window.vigieMap;
      const style = map.getStyle();
      const layers = style.layers;
      const at = layers.findIndex((l) => l.id === STYLE_LAYER);
      const basemaps = layers.filter((l) => l.metadata?.['vigie:basemap']).map((l) => l.id);
      const above = layers.slice(at + 1).filter((l) => l.metadata?.['vigie:layer']).length;
      const below = layers.slice(0, at).map((l) => `${l.id} (${l.type})`);
      const box = (id) => document.getElementById(id);
      return {
        at,
        basemaps,
        above,
        below,
        type: layers[at]?.type,
        source: layers[at]?.source,
        visibility: map.getLayoutProperty(STYLE_LAYER, 'visibility') ?? 'visible',
        saturation: map.getPaintProperty(STYLE_LAYER, 'raster-saturation') ?? 0,
        tiles: style.sources[SOURCE]?.tiles,
        composite: style.sources.vigie?.tiles?.[0],
        state: { basemap: window.vigie.state.basemap, greyscale: window.vigie.state.greyscale, layers: window.vigie.state.layers },
        panel: {
          group: !!document.querySelector('fieldset[data-basemap="base"]'),
          legend: document.querySelector('fieldset[data-basemap="base"] legend')?.textContent,
          toggle: box('basemap-toggle')?.checked,
          toggleLabel: box('basemap-toggle')?.closest('label')?.textContent,
          greyscale: box('basemap-greyscale')?.checked,
          listed: !!box('layer-base'),
        },
        mode: style.metadata?.['vigie:mode'],
      };
    },
    { STYLE_LAYER, SOURCE },
  );

/** Fails unless the basemap is right above the background, under every other layer. */
function assertUnder(s) {
  if (s.at < 0) throw new Error(`no style layer ${STYLE_LAYER}`);
  if (s.basemaps.length !== 1 || s.basemaps[0] !== STYLE_LAYER) throw new Error(`basemap style layers: ${s.basemaps.join(', ')}`);
  if (s.type !== 'raster' || s.source !== SOURCE) throw new Error(`${STYLE_LAYER} is a ${s.type} layer of source ${s.source}`);
  if (s.at !== 1 || !/\(background\)$/.test(s.below[0])) throw new Error(`${STYLE_LAYER} is at ${s.at}, above ${s.below.join(', ')}: not right above the background`);
  if (s.above < 10) throw new Error(`only ${s.above} catalog layers above the basemap`);
}

/** Points of the map (CSS px) with no rendered feature within 24 px, spread over the view. */
const quietSpots = () =>
  page.evaluate(() => {
    const map = window.vigieMap;
    const { width, height } = map.getCanvas().getBoundingClientRect();
    const out = [];
    for (let i = 1; i < 8 && out.length < 4; i += 1) {
      for (let j = 1; j < 6 && out.length < 4; j += 1) {
        const x = Math.round((width * i) / 8);
        const y = Math.round((height * j) / 6);
        const near = map.queryRenderedFeatures([
          [x - 24, y - 24],
          [x + 24, y + 24],
        ]);
        if (!near.length) out.push({ x, y });
      }
    }
    return out;
  });

const red = ([r, g, b]) => r > 170 && g < 70 && b < 70;
const grey = ([r, g, b]) => Math.max(Math.abs(r - g), Math.abs(g - b), Math.abs(r - b)) <= 8;
const show = (px) => px.map((p) => `rgb(${p.slice(0, 3).join(',')})`).join(' ');
/**
 * The pixels at `points` once all of them pass `ok`, or as they are after `timeoutMs` (a tile
 * fades in over a few frames; the caller's check then fails on what was drawn).
 */
async function pixelsWhen(points, ok, timeoutMs = 3_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const px = await pixels(page, points);
    if (px.every(ok) || Date.now() > end) return px;
    await page.waitForTimeout(100);
  }
}
const hashHas = (part) => page.waitForFunction((p) => location.hash.includes(p), part, { timeout: 5_000, polling: 50 });
const hashLacks = (part) => page.waitForFunction((p) => !location.hash.includes(p), part, { timeout: 5_000, polling: 50 });

let spots = [];

// ================================================================ the basemap drawn

/** Checks 1 to 6 of the basemap drawn. */
async function drawnScenario() {
  // ---------------------------------------------------------------- 1. under the layers

  await check('the basemap: its own source, right above the background, its own switches, its attribution', async () => {
    await page.goto(`${base}/${VIEW}`, { waitUntil: 'networkidle' });
    await page.waitForFunction(() => window.vigieMap?.loaded(), null, { timeout: 20_000, polling: 100 });
    await waitIdle(page);
    const s = await basemapState();
    assertUnder(s);
    if (s.visibility !== 'visible' || s.saturation !== 0) throw new Error(`at first the basemap is ${s.visibility}, saturation ${s.saturation}`);
    if (JSON.stringify(s.tiles) !== JSON.stringify([`${origin}/tiles/${BASEMAP}/{z}/{x}/{y}.png`])) throw new Error(`the basemap's tiles: ${JSON.stringify(s.tiles)}`);
    const listed = (u) => decodeURIComponent(new URL(u.replace(/\{/g, '%7B').replace(/\}/g, '%7D')).pathname.split('/')[2]).split(',');
    if (!s.composite || listed(s.composite).includes(BASEMAP)) throw new Error(`the composite tile URL lists the basemap: ${s.composite}`);
    if (s.state.layers.includes(BASEMAP)) throw new Error(`the page's visible layers list the basemap: ${s.state.layers.join(',')}`);
    const p = s.panel;
    if (!p.group || p.legend !== 'Fond de carte' || p.toggle !== true || p.greyscale !== false || p.listed) throw new Error(`the layer panel: ${JSON.stringify(p)}`);
    const pngs = requests.filter((u) => new URL(u).pathname.startsWith(`/tiles/${BASEMAP}/`) && u.endsWith('.png'));
    if (!pngs.length) throw new Error('no basemap tile was asked');
    const composites = requests.filter((u) => /\.mvt$/.test(new URL(u).pathname) && new URL(u).pathname.startsWith('/tiles/'));
    const mixed = composites.filter((u) => listed(u).includes(BASEMAP));
    if (mixed.length) throw new Error(`composite tiles asked with the basemap: ${mixed.slice(0, 3).join(', ')}`);
    await page.waitForFunction((a) => (document.querySelector('.maplibregl-ctrl-attrib-inner')?.textContent || '').includes(a), ATTRIBUTION, { timeout: 5_000, polling: 100 });
    const attribution = await page.locator('.maplibregl-ctrl-attrib-inner').textContent();
    await page.screenshot({ path: join(outDir, 'basemap-01-shown.png') });
    return `${STYLE_LAYER} at ${s.at} over ${s.below[0]}, under ${s.above} catalog layers; ${pngs.length} PNG tiles asked, ${composites.length} composite tiles without it; attribution "${attribution}"`;
  });

  // ---------------------------------------------------------------- 2. drawn

  await check('pixels away from features are the basemap’s red', async () => {
    spots = await quietSpots();
    if (spots.length < 3) throw new Error(`only ${spots.length} pixels with no feature within 24 px: ${JSON.stringify(spots)}`);
    const px = await pixelsWhen(spots, red);
    if (!px.every(red)) throw new Error(`not all red at ${JSON.stringify(spots)}: ${show(px)}`);
    return `${spots.length} pixels: ${show(px)}`;
  });

  // ---------------------------------------------------------------- 3. the switch

  await check('the "Fond de carte" switch hides it, the link remembers it across a reload, and shows it again', async () => {
    await page.locator('#basemap-toggle').uncheck();
    const hidden = await pixelsWhen(spots, (p) => !red(p));
    if (hidden.some(red)) throw new Error(`still red with the basemap hidden: ${show(hidden)}`);
    const s = await basemapState();
    if (s.visibility !== 'none' || s.state.basemap !== false) throw new Error(`hidden: visibility ${s.visibility}, state ${JSON.stringify(s.state)}`);
    await hashHas('basemap=off');
    await page.screenshot({ path: join(outDir, 'basemap-02-hidden.png') });
    await page.reload({ waitUntil: 'networkidle' });
    await page.waitForFunction(() => window.vigieMap?.loaded(), null, { timeout: 20_000, polling: 100 });
    await waitIdle(page);
    const r = await basemapState();
    if (r.visibility !== 'none' || r.state.basemap !== false || r.panel.toggle !== false) throw new Error(`after a reload of ${page.url()}: visibility ${r.visibility}, state ${JSON.stringify(r.state)}, switch ${r.panel.toggle}`);
    const reloaded = await pixelsWhen(spots, (p) => !red(p));
    if (reloaded.some(red)) throw new Error(`red after a reload with basemap=off: ${show(reloaded)}`);
    await page.locator('#basemap-toggle').check();
    await waitIdle(page);
    const again = await pixelsWhen(spots, red);
    if (!again.every(red)) throw new Error(`not red once shown again: ${show(again)}`);
    await hashLacks('basemap=off');
    return `hidden ${show(hidden)}; kept hidden by the reloaded link; shown again ${show(again)}`;
  });

  // ---------------------------------------------------------------- 4. greyscale

  await check('greyscale turns its pixels grey', async () => {
    await page.locator('#basemap-greyscale').check();
    const greyBasemap = (p) => grey(p) && p[0] < 200;
    const px = await pixelsWhen(spots, greyBasemap);
    if (!px.every(greyBasemap)) throw new Error(`not grey (r = g = b, darker than the background): ${show(px)}`);
    const s = await basemapState();
    if (s.saturation !== -1 || s.state.greyscale !== true) throw new Error(`greyscale: saturation ${s.saturation}, state ${JSON.stringify(s.state)}`);
    await hashHas('greyscale=on');
    await page.screenshot({ path: join(outDir, 'basemap-03-greyscale.png') });
    return show(px);
  });

  // ---------------------------------------------------------------- 5. a new style

  await check('a new style (wall mode and back) keeps it under the layers, shown and grey', async () => {
    const modes = [];
    for (const mode of ['wall', 'desk']) {
      await page.locator('#mode').click();
      await page.waitForFunction((m) => window.vigieMap.getStyle().metadata?.['vigie:mode'] === m, mode, { timeout: 10_000, polling: 50 });
      await waitIdle(page);
      const s = await basemapState();
      assertUnder(s);
      if (s.visibility !== 'visible' || s.saturation !== -1) throw new Error(`in ${mode} mode the basemap is ${s.visibility}, saturation ${s.saturation}`);
      const px = await pixelsWhen(spots, grey);
      if (!px.every(grey)) throw new Error(`in ${mode} mode the pixels are not grey: ${show(px)}`);
      if (mode === 'wall') await page.screenshot({ path: join(outDir, 'basemap-04-wall.png') });
      modes.push(`${mode}: at ${s.at}, ${show(px.slice(0, 1))}`);
    }
    return modes.join('; ');
  });

  // ---------------------------------------------------------------- 6. English

  await check('the switch reads "Basemap" in English', async () => {
    await page.locator('#lang').click();
    const en = await basemapState();
    await page.locator('#lang').click();
    const fr = await basemapState();
    if (en.panel.legend !== 'Basemap' || en.panel.toggleLabel !== 'Basemap') throw new Error(`in English: ${JSON.stringify(en.panel)}`);
    if (fr.panel.legend !== 'Fond de carte' || fr.panel.toggleLabel !== 'Fond de carte') throw new Error(`back in French: ${JSON.stringify(fr.panel)}`);
    return `"${fr.panel.legend}" / "${en.panel.legend}"`;
  });
}

// ================================================================ its archive missing

/**
 * Requests made for the tiles or TileJSON (alone or in a composite) of a layer GET /catalog
 * marks unavailable: in both scenarios, since the bundled catalog may name archives that are not
 * there (its `fond`).
 */
function missingRequests() {
  const missing = [...new Set([...(MISSING ? [BASEMAP, MISSING_REF] : []), ...catalog.layers.filter((l) => l.unavailable).map((l) => l.id)])];
  return requests.filter((u) => {
    const path = new URL(u).pathname;
    if (!path.startsWith('/tiles/')) return false;
    const ids = decodeURIComponent(path.split('/')[2] || '').split(',');
    return ids.some((id) => missing.includes(id));
  });
}

/** What the page's style, state and panel hold of the missing layers. */
const missingState = () =>
  page.evaluate(
    ({ BASEMAP, MISSING_REF }) => {
      const style = window.vigieMap.getStyle();
      const missing = [BASEMAP, MISSING_REF];
      const group = document.querySelector(`fieldset[data-basemap="${BASEMAP}"]`);
      const box = (id) => document.getElementById(id);
      const ref = box(`layer-${MISSING_REF}`);
      return {
        sources: Object.keys(style.sources).filter((id) => missing.some((m) => id === `archive-${m}`)),
        layers: style.layers.filter((l) => missing.includes(l.metadata?.['vigie:layer']) || l.metadata?.['vigie:basemap']).map((l) => l.id),
        composite: style.sources.vigie?.tiles?.[0],
        state: { basemap: window.vigie.state.basemap, greyscale: window.vigie.state.greyscale, layers: window.vigie.state.layers },
        basemapLayers: window.vigie.basemapLayers.map((l) => l.id),
        panel: {
          group: !!group,
          legend: group?.querySelector('legend')?.textContent,
          toggle: box('basemap-toggle') && { checked: box('basemap-toggle').checked, disabled: box('basemap-toggle').disabled },
          greyscale: box('basemap-greyscale') && { checked: box('basemap-greyscale').checked, disabled: box('basemap-greyscale').disabled },
          note: box('basemap-unavailable')?.textContent,
          noteInGroup: !!group?.contains(box('basemap-unavailable')),
          listed: !!box(`layer-${BASEMAP}`),
          ref: ref && { checked: ref.checked, disabled: ref.disabled, title: ref.closest('label')?.title, theme: ref.closest('fieldset')?.querySelector('legend')?.textContent },
        },
        mode: style.metadata?.['vigie:mode'],
      };
    },
    { BASEMAP, MISSING_REF },
  );

/** Fails when the style draws anything of the missing layers or the composite URL lists them. */
function assertNotDrawn(s) {
  if (s.sources.length || s.layers.length || s.basemapLayers.length) {
    throw new Error(`the style draws missing archives: sources ${s.sources.join(', ')}, layers ${s.layers.join(', ')}, basemap layers ${s.basemapLayers.join(', ')}`);
  }
  const listed = decodeURIComponent(new URL(s.composite.replace(/\{/g, '%7B').replace(/\}/g, '%7D')).pathname.split('/')[2]).split(',');
  if (listed.includes(BASEMAP) || listed.includes(MISSING_REF)) throw new Error(`the composite tile URL lists a missing archive: ${s.composite}`);
}

/** Checks 1 to 3 of the missing archives. */
async function missingScenario() {
  // ---------------------------------------------------------------- 1. not drawn

  await check('the missing archives: no source, no style layer, not in the composite tiles', async () => {
    await page.goto(`${base}/${VIEW}`, { waitUntil: 'networkidle' });
    await page.waitForFunction(() => window.vigieMap?.loaded(), null, { timeout: 20_000, polling: 100 });
    await waitIdle(page);
    const s = await missingState();
    assertNotDrawn(s);
    if (!s.state.layers.includes(MISSING_REF)) throw new Error(`the visible ${MISSING_REF} left the page's layers: ${s.state.layers.join(',')}`);
    const asked = missingRequests();
    if (asked.length) throw new Error(`requests for a missing archive: ${asked.slice(0, 5).join(', ')}`);
    const composites = requests.filter((u) => /\.mvt$/.test(new URL(u).pathname));
    if (!composites.length) throw new Error('no composite tile was asked: the page did not draw its layers');
    return `${Object.keys((await page.evaluate(() => window.vigieMap.getStyle().sources))).length} sources, none of ${BASEMAP} or ${MISSING_REF}; ${composites.length} composite tiles without them`;
  });

  // ---------------------------------------------------------------- 2. the panel says so

  await check('the basemap group: switch disabled and off, the reason under it; the reference layer disabled, the reason as its tooltip', async () => {
    const fr = await missingState();
    const p = fr.panel;
    const reason = reasons.get(BASEMAP);
    if (!p.group || p.legend !== 'Fond de carte' || p.listed) throw new Error(`the basemap group: ${JSON.stringify(p)}`);
    if (!p.toggle || p.toggle.checked || !p.toggle.disabled) throw new Error(`the basemap switch is not disabled and off: ${JSON.stringify(p.toggle)}`);
    if (p.greyscale && (p.greyscale.checked || !p.greyscale.disabled)) throw new Error(`the greyscale switch is not disabled and off: ${JSON.stringify(p.greyscale)}`);
    if (p.note !== `Fond de carte indisponible : ${reason}` || !p.noteInGroup) throw new Error(`the basemap note reads ${JSON.stringify(p.note)} (in its group: ${p.noteInGroup}), not the reason ${JSON.stringify(reason)}`);
    const ref = p.ref;
    const refReason = reasons.get(MISSING_REF);
    if (!ref || ref.checked || !ref.disabled || !ref.title?.includes(refReason)) throw new Error(`the ${MISSING_REF} line: ${JSON.stringify(ref)}, reason ${JSON.stringify(refReason)}`);
    await page.locator(`fieldset[data-basemap="${BASEMAP}"]`).scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(outDir, 'basemap-05-missing.png') });
    await page.locator('#lang').click();
    const en = await missingState();
    await page.locator('#lang').click();
    if (en.panel.legend !== 'Basemap' || en.panel.note !== `Basemap unavailable: ${reason}` || !en.panel.toggle?.disabled) throw new Error(`in English: ${JSON.stringify(en.panel)}`);
    const back = await missingState();
    if (back.panel.note !== p.note || !back.panel.toggle?.disabled) throw new Error(`back in French: ${JSON.stringify(back.panel)}`);
    return `"${p.note}" / "${en.panel.note}"; ${MISSING_REF}: "${ref.title}" under ${ref.theme}`;
  });

  // ---------------------------------------------------------------- 3. switches and styles

  await check('basemap=off&greyscale=on, the switches called anyway and a new style draw nothing of them', async () => {
    const shown = (await page.evaluate(() => location.hash)).replace(/^#/, '');
    await page.goto(`${base}/#${shown}&basemap=off&greyscale=on`, { waitUntil: 'networkidle' });
    await page.reload({ waitUntil: 'networkidle' });
    await page.waitForFunction(() => window.vigieMap?.loaded(), null, { timeout: 20_000, polling: 100 });
    await waitIdle(page);
    const linked = await missingState();
    if (linked.state.basemap !== false || linked.state.greyscale !== true) throw new Error(`the link's switches were not read: ${JSON.stringify(linked.state)}`);
    if (!linked.panel.toggle?.disabled || linked.panel.toggle.checked) throw new Error(`with basemap=off the switch: ${JSON.stringify(linked.panel.toggle)}`);
    assertNotDrawn(linked);
    // What the disabled switches would do, called anyway (a script, a stale panel).
    await page.evaluate(
      ({ MISSING_REF }) => {
        const tiles = window.vigie.tiles;
        tiles.setBasemap({ shown: true });
        tiles.setBasemap({ greyscale: false });
        tiles.setBasemap({ shown: false, greyscale: true });
        tiles.setVisible(MISSING_REF, false);
        tiles.setVisible(MISSING_REF, true);
      },
      { MISSING_REF },
    );
    await waitIdle(page);
    assertNotDrawn(await missingState());
    const modes = [];
    for (const mode of ['wall', 'desk']) {
      await page.locator('#mode').click();
      await page.waitForFunction((m) => window.vigieMap.getStyle().metadata?.['vigie:mode'] === m, mode, { timeout: 10_000, polling: 50 });
      await waitIdle(page);
      const s = await missingState();
      assertNotDrawn(s);
      if (!s.panel.toggle?.disabled) throw new Error(`in ${mode} mode the basemap switch is enabled`);
      modes.push(`${mode}: ${Object.keys(await page.evaluate(() => window.vigieMap.getStyle().sources)).length} sources`);
    }
    const asked = missingRequests();
    if (asked.length) throw new Error(`requests for a missing archive: ${asked.slice(0, 5).join(', ')}`);
    return `link ${JSON.stringify(linked.state.basemap)}/${JSON.stringify(linked.state.greyscale)}; ${modes.join('; ')}`;
  });
}

if (MISSING) await missingScenario();
else await drawnScenario();

// ---------------------------------------------------------------- last: origin and errors

await check('no request outside the server origin, no failed request, no error', async () => {
  const asked = missingRequests();
  if (asked.length) throw new Error(`requests for a missing archive: ${asked.slice(0, 5).join(', ')}`);
  return sameOriginAndClean({ requests, origin, badResponses, pageErrors, consoleErrors });
});

await finish(0);
console.log(`\nbasemap browser tests${MISSING ? ' (missing archives)' : ''}: ${results.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`screenshots: ${outDir}/basemap-*.png`);
