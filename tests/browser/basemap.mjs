#!/usr/bin/env node
// The catalog's basemap on the hypervision page, in a real browser: Debian's Chromium driven by
// playwright-core, against a vigie serving the demo whose catalog names a raster PMTiles layer
// `base` (every tile of z0..3 a solid rgb(200, 30, 30) PNG, attribution "© raster fixture") as
// its `basemap` (started by tests/e2e/basemap.rs).
//
//   node tests/browser/basemap.mjs http://127.0.0.1:8080
//
// Checks, each failing with a message that says what went wrong:
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
//   7. no request left the server's origin, none failed; no page or console error
// Screenshots: tests/out/basemap-*.png. Exits 1 on the first failed check; a missing Chromium
// or playwright-core is a failure with what to install, never a skip.

import { join } from 'node:path';
import { baseUrl, fail, launchOrFail, nodeApi, outDir, results, sameOriginAndClean, started, watchPage } from './harness.mjs';
import { pixels, waitIdle } from './map.mjs';

const base = baseUrl('node tests/browser/basemap.mjs http://127.0.0.1:PORT (vigie serve --demo with a raster basemap "base")');
const origin = new URL(base).origin;
/** The catalog's basemap layer, its style layer and source (web/js/style.js names them so). */
const BASEMAP = 'base';
const STYLE_LAYER = `${BASEMAP}-raster`;
const SOURCE = `archive-${BASEMAP}`;
/** The archive's attribution (tests/python/make_pmtiles.py RASTER_METADATA). */
const ATTRIBUTION = '© raster fixture';
/** Zoom 3 over France: the whole basemap is at its native zoom, the demo's features near Paris. */
const VIEW = '#map=3.00/46.50000/2.50000';

// ---------------------------------------------------------------- prerequisites

const catalog = (await nodeApi(base)('/catalog')).body;
const layer = catalog?.layers?.find((l) => l.id === BASEMAP);
if (catalog?.basemap !== BASEMAP || layer?.kind !== 'pmtiles' || layer?.format !== 'png') {
  fail(`GET /catalog must name the raster PMTiles layer "${BASEMAP}" as its basemap: basemap ${JSON.stringify(catalog?.basemap)}, layer ${JSON.stringify(layer)}`);
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

// ---------------------------------------------------------------- 7. origin and errors

await check('no request outside the server origin, no failed request, no error', async () => {
  return sameOriginAndClean({ requests, origin, badResponses, pageErrors, consoleErrors });
});

await finish(0);
console.log(`\nbasemap browser tests: ${results.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`screenshots: ${outDir}/basemap-*.png`);
