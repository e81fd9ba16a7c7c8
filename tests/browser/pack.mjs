#!/usr/bin/env node
// An offline pack (`vigie export`) opened by MapLibre GL JS in a real browser with no vigie
// running: Debian's Chromium driven by playwright-core loads a static page from a plain file
// server (tests/python/range_server.py, HTTP Range support as any static host has), and the
// pack's archive is read by npm `pmtiles` (Protomaps' own reader) through its MapLibre protocol.
// Started by tests/e2e/packs_in_browser.rs.
//
//   node tests/browser/pack.mjs FOLDER LON LAT ID
//
// FOLDER holds `pack.pmtiles` and `pack.style.json` as `vigie export FOLDER/pack.pmtiles` wrote
// them; LON LAT ID are a venue of the pack (its point and feature id, read by another reader).
// The Python of the file server is $VIGIE_TEST_PYTHON, else tests/.venv/bin/python.
//
// Writes into FOLDER an `index.html` that loads MapLibre GL JS and the pmtiles library from
// copies beside it, registers `pmtiles://`, and opens the map on `pack.style.json` (at the
// style's own view, or at the view of a `#zoom/lat/lon` link). Then checks, each failing with
// a message that says what went wrong:
//   1. the style and the pack load: the map goes idle with the source `vigie` loaded, no map,
//      page or console error, no failed request, every layer of the style file in the map
//   2. at zoom 13 on the venue, the style's point layer draws it: queryRenderedFeatures of
//      `venues-points` is not empty and, at the venue's screen position, holds its id; the
//      attribution control shows the source's attribution
//   3. pixels of the screenshot (tests/out/pack.png): around the venue's screen position, the
//      layer's `circle-color`; at a spot inside the pack's bounds with no rendered feature
//      within 24 px, the background layer's `background-color` (each channel within 40)
//   4. no request left the page's origin; the page read the archive by byte ranges (every
//      request for it answered 206)
// Exits 1 on the first failed check; a missing Chromium, playwright-core, maplibre-gl, pmtiles
// or Python is a failure with what to install, never a skip.

import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fail, launchOrFail, outDir, results, root, started, watchPage } from './harness.mjs';

const USAGE = 'node tests/browser/pack.mjs FOLDER LON LAT ID (FOLDER holding pack.pmtiles and pack.style.json)';
const PACK = 'pack.pmtiles';
const STYLE = 'pack.style.json';
/** The style layer drawing the venues as circles (styles/hypervision.json). */
const POINT_LAYER = 'venues-points';
/** The pack's source in its style (tileserver/src/export.rs `Pack::style`). */
const SOURCE = 'vigie';
/** The pack's highest zoom: the venue's circle is largest there. */
const ZOOM = 13;
/** Largest difference per channel (0–255) between a pixel and the colour it should have. */
const TOLERANCE = 40;
/** Files of the page, copied beside it: the page asks nothing of another origin. */
const PAGE_FILES = [
  ['node_modules/maplibre-gl/dist/maplibre-gl.js', 'npm `maplibre-gl`'],
  ['node_modules/maplibre-gl/dist/maplibre-gl.css', 'npm `maplibre-gl`'],
  // The IIFE build: a global `pmtiles`.
  ['node_modules/pmtiles/dist/pmtiles.js', 'npm `pmtiles`'],
];

// ---------------------------------------------------------------- arguments and the style

const [folderArg, lonArg, latArg, idArg] = process.argv.slice(2);
const venue = { lon: Number(lonArg), lat: Number(latArg), id: Number(idArg) };
if (!folderArg || ![venue.lon, venue.lat, venue.id].every(Number.isFinite)) fail(`usage: ${USAGE}`);
const folder = resolve(folderArg);
for (const f of [PACK, STYLE]) if (!existsSync(join(folder, f))) fail(`${join(folder, f)} is missing: ${USAGE}`);

const style = JSON.parse(readFileSync(join(folder, STYLE), 'utf8'));
const pointLayer = style.layers?.find((l) => l.id === POINT_LAYER);
if (!pointLayer || pointLayer.type !== 'circle' || pointLayer.source !== SOURCE) {
  fail(`${STYLE} has no circle layer "${POINT_LAYER}" on the source "${SOURCE}": ${JSON.stringify(pointLayer)}`);
}
if (pointLayer.layout?.visibility === 'none') fail(`${STYLE} hides "${POINT_LAYER}" (layout.visibility "none")`);
const circleColour = pointLayer.paint?.['circle-color'];
const backgroundColour = style.layers.find((l) => l.type === 'background')?.paint?.['background-color'];
for (const [name, value] of [[`${POINT_LAYER} circle-color`, circleColour], ['background-color', backgroundColour]]) {
  if (typeof value !== 'string') fail(`${STYLE}: ${name} must be one colour for the pixel check, not ${JSON.stringify(value)}`);
}

// ---------------------------------------------------------------- the static page

for (const [file, pkg] of PAGE_FILES) {
  const from = join(root, file);
  if (!existsSync(from)) fail(`${file} is missing: ${pkg} is required, run \`npm ci\` at the repository root (tests/run does)`);
  copyFileSync(from, join(folder, file.split('/').pop()));
}
writeFileSync(
  join(folder, 'index.html'),
  `<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<title>vigie — offline pack</title>
<link rel="stylesheet" href="maplibre-gl.css">
<style>html, body { margin: 0; height: 100%; } #map { position: absolute; inset: 0; }</style>
<script src="maplibre-gl.js"></script>
<script src="pmtiles.js"></script>
</head>
<body>
<div id="map"></div>
<script>
  // The pack's style names its archive pmtiles://${PACK}: read by byte ranges, beside this page.
  maplibregl.addProtocol('pmtiles', new pmtiles.Protocol().tile);
  window.packErrors = [];
  window.packIdle = 0;
  // hash: a #zoom/lat/lon link opens there, else the style's own view.
  window.packMap = new maplibregl.Map({ container: 'map', style: '${STYLE}', hash: true });
  window.packMap.on('error', (e) => window.packErrors.push(String(e.error?.message || e.error || e)));
  window.packMap.on('idle', () => { window.packIdle += 1; });
</script>
</body>
</html>
`,
);

// ---------------------------------------------------------------- the file server, no vigie

const python = process.env.VIGIE_TEST_PYTHON || join(root, 'tests/.venv/bin/python');
if (!existsSync(python)) fail(`the test Python is missing at ${python}: run tests/run (it creates tests/.venv), or set VIGIE_TEST_PYTHON`);
const fileServer = spawn(python, [join(root, 'tests/python/range_server.py'), folder], { stdio: ['ignore', 'pipe', 'pipe'] });
process.on('exit', () => fileServer.kill());
// Its stderr only says why it did not start (the browser closing its connections adds tracebacks).
let serverErr = '';
fileServer.stderr.on('data', (d) => {
  serverErr += d;
});
const firstLine = await new Promise((done) => {
  createInterface({ input: fileServer.stdout }).once('line', done);
  fileServer.once('exit', (code) => done(`exited with ${code}: ${serverErr}`));
});
let port;
try {
  port = JSON.parse(firstLine).port;
} catch {
  /* reported below */
}
if (!Number.isInteger(port)) fail(`tests/python/range_server.py did not print its port: ${firstLine}`);
const origin = `http://127.0.0.1:${port}`;
console.log(`pack served from ${folder} at ${origin} (no vigie running)`);

// ---------------------------------------------------------------- browser

const { context, close } = await launchOrFail();
const requests = [];
context.on('request', (r) => requests.push(r.url()));
const { page, check, finish, pageErrors, consoleErrors, badResponses } = await watchPage(context, { prefix: 'pack-', close });

/** `value` (any CSS colour) as [r, g, b, a], by the browser's own parser. */
const rgba = (value) =>
  page.evaluate((v) => {
    if (!CSS.supports('color', v)) return null;
    const ctx = document.createElement('canvas').getContext('2d', { willReadFrequently: true });
    ctx.fillStyle = v;
    ctx.fillRect(0, 0, 1, 1);
    return [...ctx.getImageData(0, 0, 1, 1).data];
  }, value);

/** Largest difference over r, g, b. */
const distance = (a, b) => Math.max(...[0, 1, 2].map((i) => Math.abs(a[i] - b[i])));
const hex = (c) => `#${c.slice(0, 3).map((v) => v.toString(16).padStart(2, '0')).join('')}`;

let venueAt;
let emptyAt;

await check('the style and the pack load with no vigie', async () => {
  await page.goto(`${origin}/index.html#${ZOOM}/${venue.lat}/${venue.lon}`);
  await page.waitForFunction(
    (source) => (window.packErrors?.length ?? 0) > 0 || (window.packIdle > 0 && window.packMap.isSourceLoaded(source) && window.packMap.areTilesLoaded()),
    SOURCE,
    { timeout: 60_000, polling: 100 },
  );
  const state = await page.evaluate(() => ({
    errors: window.packErrors,
    layers: window.packMap.getStyle().layers.map((l) => l.id),
    zoom: window.packMap.getZoom(),
  }));
  if (state.errors.length) throw new Error(`the map reported errors: ${state.errors.join(' | ')}`);
  if (pageErrors.length || consoleErrors.length || badResponses.length) throw new Error('errors while loading');
  const missing = style.layers.map((l) => l.id).filter((id) => !state.layers.includes(id));
  if (missing.length) throw new Error(`layers of ${STYLE} missing from the map: ${missing.join(', ')}`);
  if (Math.abs(state.zoom - ZOOM) > 1e-6) throw new Error(`the map is at zoom ${state.zoom}, not the link's ${ZOOM}`);
  return `${state.layers.length} style layers, zoom ${state.zoom}`;
});

await check(`the layer ${POINT_LAYER} draws the venue ${venue.id}`, async () => {
  const found = await page.evaluate(
    ({ layer, venue, source }) => {
      const map = window.packMap;
      const all = map.queryRenderedFeatures({ layers: [layer] });
      const at = map.project([venue.lon, venue.lat]);
      const here = map.queryRenderedFeatures([at.x, at.y], { layers: [layer] }).map((f) => f.id);
      const attribution = document.querySelector('.maplibregl-ctrl-attrib')?.textContent ?? '';
      return { count: all.length, here, at: { x: at.x, y: at.y }, attribution, wanted: map.getStyle().sources[source].attribution };
    },
    { layer: POINT_LAYER, venue, source: SOURCE },
  );
  if (!found.count) throw new Error(`queryRenderedFeatures({layers: ["${POINT_LAYER}"]}) is empty`);
  if (!found.here.includes(venue.id)) throw new Error(`at the venue's position (${found.at.x.toFixed(1)}, ${found.at.y.toFixed(1)}) "${POINT_LAYER}" draws ${JSON.stringify(found.here)}, not ${venue.id}`);
  if (!found.wanted || !found.attribution.includes(found.wanted)) throw new Error(`the attribution control reads "${found.attribution}", not the source's "${found.wanted}"`);
  venueAt = found.at;
  return `${found.count} rendered venue features; ${venue.id} at (${venueAt.x.toFixed(1)}, ${venueAt.y.toFixed(1)})`;
});

await check('the screenshot has the circle and the background colours', async () => {
  emptyAt = await page.evaluate((source) => {
    // A spot inside the pack's bounds (as the pmtiles reader gives them), away from the
    // controls, with no rendered feature of any layer within 24 px.
    const map = window.packMap;
    const [w, s, e, n] = map.getSource(source).bounds ?? [];
    const { width, height } = map.getCanvas().getBoundingClientRect();
    for (let y = 80; y < height - 80; y += 20) {
      for (let x = 80; x < width - 80; x += 20) {
        const { lng, lat } = map.unproject([x, y]);
        if (!(lng > w && lng < e && lat > s && lat < n)) continue;
        if (!map.queryRenderedFeatures([[x - 24, y - 24], [x + 24, y + 24]]).length) return { x, y };
      }
    }
    return null;
  }, SOURCE);
  if (!emptyAt) throw new Error('no spot of the map inside the pack\'s bounds is 24 px away from every rendered feature');
  const shot = join(outDir, 'pack.png');
  const png = await page.screenshot({ path: shot });
  // The screenshot decoded by the browser (no request: the bytes are handed over).
  const areas = await page.evaluate(
    async ({ b64, spots }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const image = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
      const canvas = new OffscreenCanvas(image.width, image.height);
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(image, 0, 0);
      const scale = image.width / window.innerWidth;
      // 5×5 pixels around each spot.
      return spots.map(({ x, y }) => {
        const px = [];
        for (let dy = -2; dy <= 2; dy += 1) {
          for (let dx = -2; dx <= 2; dx += 1) px.push([...ctx.getImageData(Math.round(x * scale) + dx, Math.round(y * scale) + dy, 1, 1).data]);
        }
        return px;
      });
    },
    { b64: png.toString('base64'), spots: [venueAt, emptyAt] },
  );
  const wanted = { circle: await rgba(circleColour), background: await rgba(backgroundColour) };
  if (!wanted.circle || !wanted.background) throw new Error(`not CSS colours: ${circleColour}, ${backgroundColour}`);
  const best = (px, want) => px.reduce((b, p) => (distance(p, want) < distance(b, want) ? p : b));
  const atVenue = best(areas[0], wanted.circle);
  const atEmpty = best(areas[1], wanted.background);
  if (distance(atVenue, wanted.circle) > TOLERANCE) {
    throw new Error(`around the venue (${venueAt.x.toFixed(0)}, ${venueAt.y.toFixed(0)}) the closest pixel is ${hex(atVenue)}, not "${POINT_LAYER}"'s ${circleColour} (see ${shot})`);
  }
  if (distance(atEmpty, wanted.background) > TOLERANCE) {
    throw new Error(`at the empty spot (${emptyAt.x}, ${emptyAt.y}) the closest pixel is ${hex(atEmpty)}, not the background's ${backgroundColour} (see ${shot})`);
  }
  return `venue ${hex(atVenue)} ≈ ${circleColour}, empty spot (${emptyAt.x}, ${emptyAt.y}) ${hex(atEmpty)} ≈ ${backgroundColour}; ${shot}`;
});

await check('nothing asked of another origin; the archive read by ranges', async () => {
  const foreign = requests.filter((u) => new URL(u).origin !== origin);
  if (foreign.length) throw new Error(`requests to another origin: ${[...new Set(foreign)].join(', ')}`);
  const paths = new Set(requests.map((u) => new URL(u).pathname));
  const needed = ['/index.html', `/${STYLE}`, `/${PACK}`, ...PAGE_FILES.map(([f]) => `/${f.split('/').pop()}`)];
  const unasked = needed.filter((p) => !paths.has(p));
  if (unasked.length) throw new Error(`never asked: ${unasked.join(', ')} (asked: ${[...paths].join(', ')})`);
  const stats = await (await fetch(`${origin}/__stats`)).json();
  const archive = stats.paths[`/${PACK}`];
  if (!archive?.requests || archive.ranges !== archive.requests) {
    throw new Error(`every request for ${PACK} should be a byte range answered 206: ${JSON.stringify(archive)}`);
  }
  const size = statSync(join(folder, PACK)).size;
  return `${requests.length} requests to ${origin}; ${archive.ranges} ranges of ${PACK}, ${archive.bytes} of its ${size} bytes`;
});

await finish(0);
console.log(`\n${results.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(0); // the file server is stopped on exit
