#!/usr/bin/env node
// Clusters of thinned tiles in the hypervision page, in Chromium, against a vigie whose tile
// budget is small enough that the demo's layers are thinned at city zooms and not at street
// zooms (tests/e2e/browser.rs starts it with `--tile-max-features 400`).
//
//   node tests/browser/clusters.mjs http://127.0.0.1:PORT
//
// Checks, each failing with what went wrong:
//   1. at z12 over Paris, the cluster layers draw clusters (some with point_count > 1) and no
//      other style layer of a thinnable layer draws a feature with point_count; each thinnable
//      layer has exactly one cluster circle and one count label in the map's style; every
//      cluster carries what the server promises (max_severity 0–4 on entry layers, n_<theme>
//      equal to point_count on a theme's layer); the counts add up (clusters and raw features
//      stand for more features than there are clusters, no more than the layers hold); the
//      count labels are drawn (their images, abbreviated as the test expects)
//   2. the page never asks for raw tiles; the same tile fetched with budget=off in the page is
//      bigger than the thinned one
//   3. hiding a theme hides its cluster layers with its other layers (nothing of it rendered),
//      showing it brings its clusters back
//   4. the pointer over a cluster is a hand; a click on it zooms in by 2 levels centred on it
//      and opens no popup
//   5. zoomed to z16 on the densest cluster, the raw entries render there and no cluster does
//   6. wall mode draws the clusters too (its own style), and the page logged no error and saw
//      no failed request
// Screenshots: tests/out/clusters-*.png. Exits 1 on the first failed check.

import { join } from 'node:path';
import { baseUrl, fail, launchOrFail, nodeApi, outDir, watchPage } from './harness.mjs';
import { waitIdle as mapIdle } from './map.mjs';

const base = baseUrl('node tests/browser/clusters.mjs http://127.0.0.1:PORT (vigie serve --demo --tile-max-features 400)');
const api = nodeApi(base);

/** Catalog layer kinds the server thins (web/js/style.js THINNABLE_KINDS, said again here). */
const THINNABLE = new Set(['entries', 'venues', 'perimeters', 'dataset']);
/** Zoom where the demo's visible layers are over their share of a 400-feature tile. */
const THIN_ZOOM = 12;
/** Zoom where no tile of the demo's visible layers is over its share. */
const RAW_ZOOM = 16;

const catalog = (await api('/catalog')).body;
if (!catalog?.layers) fail(`GET /catalog did not answer a catalog (${base})`);
const newest = (await api('/api/entries?limit=1&qualification=all')).body?.entries?.[0];
if (!newest) fail('GET /api/entries?limit=1 returned no entry: start vigie with --demo');
const DAY = 86_400_000;
const newestMs = Date.parse(newest.occurred_at);
// The demo's whole range, as run.mjs opens it.
const range = { from: new Date(Math.floor((newestMs - 60 * DAY) / DAY) * DAY).toISOString(), to: new Date(Math.ceil((newestMs + DAY) / DAY) * DAY).toISOString() };
const themed = catalog.layers.filter((l) => l.kind === 'entries' && l.visible && l.tags?.length);
if (!themed.length) fail('the catalog needs a visible entry-theme layer for these tests');
const toggled = themed.find((l) => l.id === 'health') || themed[0];
/** The kind of a catalog layer. */
const byKind = (id) => catalog.layers.find((l) => l.id === id)?.kind;
const hash = (lon, lat, zoom) => `#map=${zoom.toFixed(2)}/${lat.toFixed(5)}/${lon.toFixed(5)}&from=${encodeURIComponent(range.from)}&to=${encodeURIComponent(range.to)}`;

/** A count as the cluster labels abbreviate it (the test's own reading of the rule). */
function abbreviated(n) {
  if (n >= 999_500) return `${Math.round(n / 100_000) / 10}M`;
  if (n >= 9_950) return `${Math.round(n / 1_000)}k`;
  if (n >= 1_000) return `${Math.round(n / 100) / 10}k`;
  return String(n);
}

const { context, close } = await launchOrFail();
const { page, check, finish, badResponses, pageErrors, consoleErrors } = await watchPage(context, { prefix: 'clusters-', close });
const tileRequests = [];
context.on('request', (r) => {
  const u = new URL(r.url());
  if (u.pathname.startsWith('/tiles/') && u.pathname.endsWith('.mvt')) tileRequests.push(u);
});
const waitIdle = async () => {
  await mapIdle(page);
  // A frame after the last tile, so that queryRenderedFeatures sees it placed.
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
};

/**
 * What the map draws of the thinnable layers: `clusters` (one per cluster, from the cluster
 * circle layers), `stray` (features with point_count drawn by another style layer), `raw`
 * (features of the layers' own style layers, one per layer and id), and each cluster's label.
 */
const rendered = () =>
  page.evaluate((thinnableKinds) => {
    const app = window.vigie;
    const map = window.vigieMap;
    const kinds = new Set(thinnableKinds);
    const thinnable = new Set(app.catalog.layers.filter((l) => kinds.has(l.kind)).map((l) => l.id));
    const clusterIds = new Set(app.clusterLayers);
    const clusters = [];
    const stray = [];
    const raw = new Map();
    const { width, height } = map.getCanvas().getBoundingClientRect();
    for (const f of map.queryRenderedFeatures()) {
      if (f.source !== 'vigie' || !thinnable.has(f.sourceLayer)) continue;
      const p = f.properties || {};
      if (clusterIds.has(f.layer.id)) {
        if (f.layer.type !== 'circle') continue;
        const [lon, lat] = f.geometry.coordinates;
        const at = map.project([lon, lat]);
        clusters.push({ layer: f.layer.id, sourceLayer: f.sourceLayer, props: p, lon, lat, x: at.x, y: at.y, inside: at.x >= 0 && at.y >= 0 && at.x <= width && at.y <= height });
      } else if ('point_count' in p) {
        stray.push({ layer: f.layer.id, props: p });
      } else {
        raw.set(`${f.sourceLayer}/${f.id ?? JSON.stringify(p)}`, { sourceLayer: f.sourceLayer, type: f.geometry.type, coordinates: f.geometry.type === 'Point' ? f.geometry.coordinates : null });
      }
    }
    const labels = map.queryRenderedFeatures({ layers: [...clusterIds].filter((id) => map.getLayer(id)?.type === 'symbol') }).length;
    return { clusters, stray, raw: [...raw.values()], labels, zoom: map.getZoom() };
  }, [...THINNABLE]);

let thinView = null;

await check(`clusters render at z${THIN_ZOOM} on the cluster layers only`, async () => {
  await page.goto(`${base}/${hash(2.3, 48.862, THIN_ZOOM)}`, { waitUntil: 'commit' });
  await page.waitForFunction(() => window.vigieMap && window.vigie.clusterLayers.length && window.vigieMap.queryRenderedFeatures({ layers: window.vigie.clusterLayers.filter((id) => window.vigieMap.getLayer(id)) }).length > 0, null, { timeout: 20_000, polling: 100 });
  await waitIdle();
  const style = await page.evaluate(() => window.vigieMap.getStyle().layers.map((l) => ({ id: l.id, type: l.type, layer: l.metadata?.['vigie:layer'], cluster: l.metadata?.['vigie:cluster'] === true, filter: l.filter })));
  for (const l of catalog.layers.filter((x) => THINNABLE.has(x.kind))) {
    const circles = style.filter((s) => s.layer === l.id && s.cluster && s.type === 'circle').map((s) => s.id);
    const labels = style.filter((s) => s.layer === l.id && s.cluster && s.type === 'symbol').map((s) => s.id);
    if (circles.length !== 1 || labels.length !== 1) throw new Error(`layer ${l.id} has cluster circles [${circles}] and labels [${labels}]: one of each expected`);
    const open = style.filter((s) => s.layer === l.id && !s.cluster && !JSON.stringify(s.filter ?? null).includes('point_count'));
    if (open.length) throw new Error(`style layers of ${l.id} do not filter clusters out: ${open.map((s) => s.id)}`);
  }
  const r = await rendered();
  thinView = r;
  if (r.stray.length) throw new Error(`${r.stray.length} features with point_count drawn by a layer's own style layers, e.g. ${JSON.stringify(r.stray[0])}`);
  const multi = r.clusters.filter((c) => c.props.point_count > 1);
  if (!multi.length) throw new Error(`no rendered cluster stands for more than one feature: ${JSON.stringify(r.clusters.slice(0, 3))}`);
  const byLayer = new Map(catalog.layers.map((l) => [l.id, l]));
  const themeIds = new Set(catalog.themes.map((th) => th.id));
  for (const c of r.clusters) {
    const p = c.props;
    const def = byLayer.get(c.sourceLayer);
    if (!Number.isInteger(p.point_count) || p.point_count < 1) throw new Error(`cluster of ${c.sourceLayer} with point_count ${p.point_count}`);
    if ('max_severity' in p && !(Number.isInteger(p.max_severity) && p.max_severity >= 0 && p.max_severity <= 4)) throw new Error(`cluster of ${c.sourceLayer} with max_severity ${p.max_severity}`);
    if (def.kind === 'entries' && !('max_severity' in p)) throw new Error(`cluster of entries layer ${c.sourceLayer} without max_severity (every demo entry has a severity): ${JSON.stringify(p)}`);
    for (const [k, v] of Object.entries(p)) {
      if (!k.startsWith('n_')) continue;
      if (!themeIds.has(k.slice(2))) throw new Error(`cluster of ${c.sourceLayer} counts an unknown theme: ${k}`);
      if (!(Number.isInteger(v) && v >= 1 && v <= p.point_count)) throw new Error(`cluster of ${c.sourceLayer}: ${k} = ${v} with point_count ${p.point_count}`);
    }
    // A theme's layer holds the entries tagged with it: all of a cluster's features are.
    if (def.kind === 'entries' && def.tags?.length === 1 && themeIds.has(def.tags[0]) && p[`n_${def.tags[0]}`] !== p.point_count) {
      throw new Error(`cluster of ${c.sourceLayer}: n_${def.tags[0]} = ${p[`n_${def.tags[0]}`]} but point_count = ${p.point_count}`);
    }
  }
  const sum = r.clusters.reduce((s, c) => s + c.props.point_count, 0);
  if (!(sum + r.raw.length > r.clusters.length)) throw new Error(`${r.clusters.length} clusters and ${r.raw.length} raw features stand for ${sum + r.raw.length} features`);
  for (const l of catalog.layers.filter((x) => THINNABLE.has(x.kind) && Number.isFinite(x.features))) {
    const n = r.clusters.filter((c) => c.sourceLayer === l.id).reduce((s, c) => s + c.props.point_count, 0);
    if (n > l.features) throw new Error(`the rendered clusters of ${l.id} stand for ${n} features; the layer holds ${l.features}`);
  }
  if (!r.labels) throw new Error('no count label rendered');
  const missing = await page.evaluate((names) => names.filter((n) => !window.vigieMap.hasImage(n)), [...new Set(multi.filter((c) => c.inside).map((c) => `cluster-count-${abbreviated(c.props.point_count)}`))]);
  if (missing.length) throw new Error(`count label images never drawn: ${missing}`);
  await page.screenshot({ path: join(outDir, 'clusters-z12.png') });
  const layers = [...new Set(r.clusters.map((c) => c.sourceLayer))];
  return `${r.clusters.length} clusters (${multi.length} of several, standing for ${sum} features) on ${layers.join(', ')}; ${r.raw.length} raw features; ${r.labels} labels`;
});

await check('raw tiles are bigger and never asked by the page', async () => {
  const asked = tileRequests.filter((u) => u.searchParams.get('budget') === 'off');
  if (asked.length) throw new Error(`the page asked for raw tiles: ${asked[0]}`);
  const sizes = await page.evaluate(async () => {
    const map = window.vigieMap;
    const z = Math.floor(map.getZoom());
    const c = map.getCenter();
    const n = 2 ** z;
    const x = Math.floor(((c.lng + 180) / 360) * n);
    const lat = (c.lat * Math.PI) / 180;
    const y = Math.floor(((1 - Math.asinh(Math.tan(lat)) / Math.PI) / 2) * n);
    const url = window.vigie.currentTileUrl.replace('{z}', z).replace('{x}', x).replace('{y}', y);
    const size = async (u) => {
      const r = await fetch(u);
      if (!r.ok) throw new Error(`${u}: HTTP ${r.status}`);
      return (await r.arrayBuffer()).byteLength;
    };
    return { url, thinned: await size(url), raw: await size(`${url}&budget=off`) };
  });
  if (!(sizes.raw > sizes.thinned)) throw new Error(`raw tile ${sizes.raw} bytes, thinned ${sizes.thinned} bytes: ${sizes.url}`);
  return `${new URL(sizes.url).pathname}: thinned ${sizes.thinned} bytes, raw ${sizes.raw} bytes`;
});

await check(`hiding ${toggled.id} hides its clusters, showing it brings them back`, async () => {
  const ids = await page.evaluate((id) => window.vigie.styleLayers.get(id).filter((s) => s.cluster).map((s) => s.id), toggled.id);
  if (ids.length !== 2) throw new Error(`${toggled.id} has cluster layers [${ids}]`);
  if (!thinView.clusters.some((c) => c.sourceLayer === toggled.id)) throw new Error(`no cluster of ${toggled.id} rendered at the start`);
  const visibility = () => page.evaluate((names) => names.map((n) => window.vigieMap.getLayoutProperty(n, 'visibility') ?? 'visible'), ids);
  const box = page.locator(`#layer-${toggled.id}`);
  await box.uncheck();
  await waitIdle();
  const off = await visibility();
  if (off.some((v) => v !== 'none')) throw new Error(`hidden ${toggled.id}, its cluster layers are ${off}`);
  const drawn = await page.evaluate((id) => window.vigieMap.queryRenderedFeatures().filter((f) => f.sourceLayer === id).length, toggled.id);
  if (drawn) throw new Error(`hidden ${toggled.id}, ${drawn} of its features or clusters are still drawn`);
  await box.check();
  await page.waitForFunction((names) => window.vigieMap.queryRenderedFeatures({ layers: names }).length > 0, ids, { timeout: 10_000, polling: 100 });
  await waitIdle();
  const on = await visibility();
  if (on.some((v) => v !== 'visible')) throw new Error(`shown again, the cluster layers of ${toggled.id} are ${on}`);
  return `${ids.join(', ')}: ${off.join('/')} then ${on.join('/')}`;
});

let densest = null;

await check('a click on a cluster zooms in by 2 and opens no popup', async () => {
  const r = await rendered();
  const { width, height } = await page.evaluate(() => window.vigieMap.getCanvas().getBoundingClientRect().toJSON());
  const away = (c) => c.x > 80 && c.y > 80 && c.x < width - 80 && c.y < height - 80;
  // The densest cluster of an entry layer is where the street zoom is checked.
  densest = r.clusters.filter((c) => byKind(c.sourceLayer) === 'entries').sort((a, b) => b.props.point_count - a.props.point_count)[0];
  if (!densest) throw new Error('no cluster of an entry layer rendered');
  // A big cluster well inside the map, under no other cluster's circle centre.
  const target = r.clusters.filter((c) => away(c) && c.props.point_count > 1).sort((a, b) => b.props.point_count - a.props.point_count)[0];
  if (!target) throw new Error(`no cluster of several features away from the map's edges: ${r.clusters.length} clusters`);
  // The cluster the page picks there (the topmost whose circle meets the click's box).
  const picked = await page.evaluate((p) => {
    const f = window.vigie.clusters.at(p);
    return f && { lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1], count: f.properties.point_count, layer: f.sourceLayer };
  }, { x: target.x, y: target.y });
  if (!picked) throw new Error(`the page finds no cluster under the ${target.sourceLayer} cluster of ${target.props.point_count}`);
  const rect = await page.evaluate(() => window.vigieMap.getCanvas().getBoundingClientRect().toJSON());
  const [px, py] = [rect.left + target.x, rect.top + target.y];
  await page.mouse.move(px - 30, py - 30);
  await page.mouse.move(px, py, { steps: 4 });
  await page.waitForFunction(() => window.vigieMap.getCanvas().style.cursor === 'pointer', null, { timeout: 3_000, polling: 50 });
  const z0 = await page.evaluate(() => window.vigieMap.getZoom());
  const expected = await page.evaluate((z) => Math.min(z + 2, window.vigieMap.getMaxZoom()), z0);
  await page.mouse.click(px, py);
  await page.waitForFunction((z) => Math.abs(window.vigieMap.getZoom() - z) < 0.01 && !window.vigieMap.isMoving(), expected, { timeout: 5_000, polling: 50 });
  const after = await page.evaluate(
    ([lon, lat]) => {
      const map = window.vigieMap;
      const c = map.project(map.getCenter());
      const t = map.project([lon, lat]);
      return { zoom: map.getZoom(), off: Math.hypot(c.x - t.x, c.y - t.y), popups: document.querySelectorAll('.maplibregl-popup').length };
    },
    [picked.lon, picked.lat],
  );
  if (after.popups) throw new Error(`a click on a cluster opened ${after.popups} popup(s)`);
  if (after.off > 1) throw new Error(`the map centred ${after.off.toFixed(1)} px from the clicked cluster`);
  await waitIdle();
  return `${picked.layer} cluster of ${picked.count}: z${z0.toFixed(2)} → z${after.zoom.toFixed(2)}, centred on it, no popup`;
});

await check(`at z${RAW_ZOOM} on the densest cluster, raw entries render again`, async () => {
  await page.evaluate(([lon, lat, z]) => window.vigieMap.jumpTo({ center: [lon, lat], zoom: z }), [densest.lon, densest.lat, RAW_ZOOM]);
  await waitIdle();
  const r = await rendered();
  if (r.stray.length) throw new Error(`${r.stray.length} features with point_count drawn by a layer's own style layers`);
  if (r.clusters.length) throw new Error(`${r.clusters.length} clusters still drawn at z${RAW_ZOOM}, e.g. ${r.clusters[0].sourceLayer} of ${r.clusters[0].props.point_count}`);
  const same = r.raw.filter((f) => f.sourceLayer === densest.sourceLayer);
  if (!same.length) throw new Error(`no raw feature of ${densest.sourceLayer} where its cluster of ${densest.props.point_count} was`);
  const entries = r.raw.filter((f) => byKind(f.sourceLayer) === 'entries');
  await page.screenshot({ path: join(outDir, 'clusters-z16.png') });
  return `${densest.sourceLayer} cluster of ${densest.props.point_count} at z${THIN_ZOOM}: ${same.length} raw ${densest.sourceLayer} features, ${entries.length} raw entries in view at z${RAW_ZOOM}`;
});

await check('wall mode draws clusters too; no page error, no failed request', async () => {
  await page.evaluate(([lon, lat, z]) => window.vigieMap.jumpTo({ center: [lon, lat], zoom: z }), [2.3, 48.862, THIN_ZOOM]);
  await page.locator('#mode').click();
  await page.waitForFunction(() => document.body.classList.contains('wall') && window.vigieMap.isStyleLoaded(), null, { timeout: 10_000, polling: 100 });
  await page.waitForFunction(() => window.vigieMap.queryRenderedFeatures({ layers: window.vigie.clusterLayers.filter((id) => window.vigieMap.getLayer(id)) }).length > 0, null, { timeout: 20_000, polling: 100 });
  await waitIdle();
  const r = await rendered();
  if (r.stray.length) throw new Error(`wall mode: ${r.stray.length} features with point_count drawn by a layer's own style layers`);
  if (!r.clusters.some((c) => c.props.point_count > 1)) throw new Error('wall mode: no cluster of several features rendered');
  const name = await page.evaluate(() => window.vigieMap.getStyle().name);
  await page.screenshot({ path: join(outDir, 'clusters-wall.png') });
  if (pageErrors.length || consoleErrors.length) throw new Error(`page errors: ${pageErrors.join(' | ')}; console errors: ${consoleErrors.slice(-5).join(' | ')}`);
  if (badResponses.length) throw new Error(`failed requests: ${badResponses.slice(-5).join(', ')}`);
  return `style "${name}": ${r.clusters.length} clusters, ${r.labels} labels`;
});

await finish(0);
console.log('clusters: all checks passed');
