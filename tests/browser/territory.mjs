#!/usr/bin/env node
// A member's territory on the hypervision page (issue 15), in a real browser: Debian's Chromium
// driven by playwright-core, against a vigie that requires signing in (started by
// tests/e2e/browser.rs with `--demo --require-sign-in`, a reader account and an admin's API
// token made beforehand with `vigie user add` and `vigie token create`).
//
//   VIGIE_TEST_READER=rita:PASSWORD VIGIE_TEST_ADMIN_TOKEN='Bearer …' \
//     node tests/browser/territory.mjs http://127.0.0.1:8080
//
// Checks, each failing with a message that says what went wrong:
//   1. the admin narrows the reader to a box (PUT /api/members/{name}); signed in from a link
//      without a view, the page draws the territory's outline and grey mask between the
//      reference layers and the log's, the mask is the world with the box as its one hole
//      (wound as RFC 7946 asks: exterior counterclockwise, hole clockwise), and the map is
//      fitted to the box
//   2. drawn as said: MapLibre hits the mask outside the box and not inside, the outline on the
//      box's edge; in the pixels, hiding the mask greys a pixel outside the box and leaves one
//      inside as it was (a mask drawn transparent, or under the background, would change none)
//   3. the legend says "Votre territoire", and "Your territory" in English
//   4. a new style (the wall mode and back) drops every layer the page added: the territory
//      comes back on it, in the mode's colours
//   5. a link that carries a view keeps it: the page draws the territory without moving the map
//   6. the admin gives the whole workspace back; signed in again after the session ends (no
//      reload), the page takes the outline, the mask and the legend off; a fresh page draws none
//   7. no page error, no console error, no failed request but the 401s of the ended session and
//      the 403s of GET /api/reports while narrowed (situation reports cover the whole workspace:
//      the "Points de situation" button stays hidden then, and shows once it is given back)
// Screenshots: tests/out/territory-*.png. Exits 1 on the first failed check; a missing Chromium
// or playwright-core is a failure with what to install, never a skip.

import { join } from 'node:path';
import { baseUrl, fail, launchOrFail, nodeApi, outDir, results, started, watchPage } from './harness.mjs';
import { pixels as mapPixels, waitIdle } from './map.mjs';

const usage = "VIGIE_TEST_READER=name:password VIGIE_TEST_ADMIN_TOKEN='Bearer …' node tests/browser/territory.mjs http://127.0.0.1:PORT";
const base = baseUrl(usage);
const [readerName, readerPassword] = (process.env.VIGIE_TEST_READER || '').split(/:(.*)/s);
const adminToken = process.env.VIGIE_TEST_ADMIN_TOKEN || '';
if (!readerName || !readerPassword || !adminToken.startsWith('Bearer ')) fail(`usage: ${usage}`);

/** The reader's territory: one box over central Paris, [w, s, e, n]. */
const BOX = [2.3, 48.8, 2.4, 48.9];
const SESSION_COOKIE = 'vigie_session';
/** Ids of territory.js. */
const MASK = 'territory-mask';
const OUTLINE = 'territory-outline';
const OUTER = 'territory-outline-outer';
const SOURCE = 'territory';

const admin = nodeApi(base, { Authorization: adminToken });
/** PUT /api/members/{reader} as the admin, with `territory`; fails the run unless 204. */
async function setTerritory(territory) {
  const r = await admin(`/api/members/${encodeURIComponent(readerName)}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ role: 'reader', territory }),
  });
  if (r.status !== 204) fail(`PUT /api/members/${readerName} with territory ${JSON.stringify(territory)} answered ${r.status} ${JSON.stringify(r.body)}`);
}

// ---------------------------------------------------------------- prerequisites

const anonymous = await nodeApi(base)('/api/me');
if (anonymous.status !== 401) fail(`GET /api/me without a session answered ${anonymous.status}: start vigie with --require-sign-in`);
const adminMe = await admin('/api/me');
if (adminMe.status !== 200 || !adminMe.body?.can?.admin) fail(`the admin token: GET /api/me answered ${adminMe.status} ${JSON.stringify(adminMe.body)}`);
await setTerritory([{ bbox: BOX }]);

// ---------------------------------------------------------------- browser

const { context, close } = await launchOrFail();
const { page, check, finish, badResponses, pageErrors, consoleErrors } = await watchPage(context, { prefix: 'territory-', close });

const dialogShown = () => page.waitForFunction(() => document.getElementById('signin')?.open, null, { timeout: 10_000, polling: 50 });
const dialogGone = () => page.waitForFunction(() => !document.getElementById('signin')?.open, null, { timeout: 10_000, polling: 50 });

async function signIn() {
  await page.locator('#signin-name').fill(readerName);
  await page.locator('#signin-password').fill(readerPassword);
  const answer = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/session');
  await page.locator('#signin-submit').click();
  const r = await answer;
  if (r.status() !== 200) throw new Error(`POST /api/session as ${readerName} answered ${r.status()}`);
  await dialogGone();
}

/** Waits until the territory's layers are on the map (or, `present` false, off it). */
async function territoryDrawn(present = true) {
  const ids = [MASK, OUTLINE, OUTER];
  try {
    await page.waitForFunction(([ids, want]) => !!window.vigieMap && ids.every((id) => !!window.vigieMap.getLayer(id) === want), [ids, present], { timeout: 15_000, polling: 100 });
  } catch {
    const there = await page.evaluate((ids) => ids.filter((id) => window.vigieMap?.getLayer(id)), ids);
    throw new Error(`15 s on, the map ${present ? 'still lacks' : 'still draws'} the territory (layers there: ${there.join(', ') || 'none'})`);
  }
}

/** What the page's map says of the territory: source data, layer order, view. */
const mapState = () =>
  page.evaluate(
    async ({ SOURCE, MASK, OUTLINE, OUTER }) => {
      const map = window.vigieMap;
      const order = map.getLayersOrder();
      const kinds = new Map(window.vigie.catalog.layers.map((l) => [l.id, l.kind]));
      const kindAt = (id) => kinds.get(map.getLayer(id)?.metadata?.['vigie:layer']);
      const source = map.getSource(SOURCE);
      const b = map.getBounds();
      return {
        order,
        at: { mask: order.indexOf(MASK), outline: order.indexOf(OUTLINE), outer: order.indexOf(OUTER) },
        firstOperational: order.findIndex((id) => ['entries', 'h3'].includes(kindAt(id))),
        lastReference: order.reduce((last, id, i) => (['dataset', 'perimeters'].includes(kindAt(id)) ? i : last), -1),
        data: source ? await source.getData() : null,
        view: { west: b.getWest(), south: b.getSouth(), east: b.getEast(), north: b.getNorth(), zoom: map.getZoom(), center: map.getCenter().toArray() },
      };
    },
    { SOURCE, MASK, OUTLINE, OUTER },
  );

/** Twice the signed area of a ring: positive when counterclockwise. */
function area2(ring) {
  let a = 0;
  for (let i = 0; i + 1 < ring.length; i += 1) a += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
  return a;
}

/** Whether `ring` is closed and has exactly the corners of `box` (in any order). */
function ringIsBox(ring, [w, s, e, n]) {
  const close = (a, b) => Math.abs(a - b) < 1e-9;
  const corners = [
    [w, s],
    [e, s],
    [e, n],
    [w, n],
  ];
  const open = ring.slice(0, -1);
  const first = ring[0];
  const last = ring[ring.length - 1];
  return (
    close(first[0], last[0]) &&
    close(first[1], last[1]) &&
    open.length === 4 &&
    corners.every((c) => open.some((p) => close(p[0], c[0]) && close(p[1], c[1])))
  );
}

/**
 * A pixel (CSS px in the map) with no rendered feature within 8 px, inside the lon/lat box
 * `[w, s, e, n]` (inset by 15 %), or null.
 */
const quietSpot = (box) =>
  page.evaluate(
    ([w, s, e, n]) => {
      const map = window.vigieMap;
      const { width, height } = map.getCanvas().getBoundingClientRect();
      for (let i = 1; i < 12; i += 1) {
        for (let j = 1; j < 12; j += 1) {
          const lon = w + ((e - w) * (0.15 + (0.7 * i) / 12));
          const lat = s + ((n - s) * (0.15 + (0.7 * j) / 12));
          const p = map.project([lon, lat]);
          if (p.x < 20 || p.y < 20 || p.x > width - 20 || p.y > height - 20) continue;
          const near = map.queryRenderedFeatures([
            [p.x - 8, p.y - 8],
            [p.x + 8, p.y + 8],
          ]).filter((f) => f.source !== 'territory');
          if (!near.length) return { x: Math.round(p.x), y: Math.round(p.y), lon, lat };
        }
      }
      return null;
    },
    box,
  );

/** The RGBA of the map's pixels at `points` (map.mjs). */
const pixels = (points) => mapPixels(page, points);

const sum = (rgba) => rgba[0] + rgba[1] + rgba[2];

// ---------------------------------------------------------------- 1. drawn at sign-in

await check('a reader narrowed to a box: outline and mask under the log, the box as the hole, the map fitted', async () => {
  await page.goto(`${base}/`, { waitUntil: 'networkidle' });
  await dialogShown();
  const asked = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/me/territory', { timeout: 15_000 });
  const reports = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/reports', { timeout: 30_000 });
  await signIn();
  const answer = await asked;
  const refused = (await reports).status();
  if (refused !== 403) throw new Error(`GET /api/reports for a narrowed reader answered ${refused}, not 403`);
  if (!(await page.locator('#reports-open').isHidden())) throw new Error('the "Points de situation" button is shown to a reader the reports refuse');
  if (answer.status() !== 200 || !/geo\+json/.test(answer.headers()['content-type'] || '')) throw new Error(`GET /api/me/territory answered ${answer.status()} ${answer.headers()['content-type']}`);
  await territoryDrawn();
  await waitIdle(page);
  const s = await mapState();
  if (!(s.at.mask >= 0 && s.at.mask < s.at.outer && s.at.outer < s.at.outline)) throw new Error(`layer order: mask ${s.at.mask}, outer outline ${s.at.outer}, outline ${s.at.outline}`);
  if (s.firstOperational < 0 || s.lastReference < 0) throw new Error(`the style has no log layer or no reference layer: ${s.order.join(', ')}`);
  if (!(s.lastReference < s.at.mask && s.at.outline < s.firstOperational)) {
    throw new Error(`the territory is not between the reference layers (last at ${s.lastReference}) and the log's (first at ${s.firstOperational}): ${s.order.join(', ')}`);
  }
  const features = s.data?.features || [];
  const masks = features.filter((f) => f.properties?.mask);
  const levels = features.filter((f) => 'level' in (f.properties || {}));
  if (masks.length !== 1 || levels.length !== 1 || levels[0].properties.level !== 0) throw new Error(`the source holds ${masks.length} masks and levels ${JSON.stringify(levels.map((f) => f.properties))}`);
  const mask = masks[0].geometry;
  if (mask.type !== 'MultiPolygon' || mask.coordinates.length !== 1) throw new Error(`the mask is a ${mask.type} of ${mask.coordinates.length} polygons`);
  const [exterior, ...holes] = mask.coordinates[0];
  const xs = exterior.map((p) => p[0]);
  const ys = exterior.map((p) => p[1]);
  if (Math.min(...xs) !== -180 || Math.max(...xs) !== 180 || Math.min(...ys) > -85 || Math.max(...ys) < 85) throw new Error(`the mask's exterior is not the world: ${JSON.stringify(exterior)}`);
  if (holes.length !== 1 || !ringIsBox(holes[0], BOX)) throw new Error(`the mask's holes are not the box ${JSON.stringify(BOX)}: ${JSON.stringify(holes)}`);
  if (!(area2(exterior) > 0 && area2(holes[0]) < 0)) throw new Error(`winding: exterior ${area2(exterior)}, hole ${area2(holes[0])} (counterclockwise > 0 expected, then < 0)`);
  const outlinePolys = levels[0].geometry.type === 'MultiPolygon' ? levels[0].geometry.coordinates : [levels[0].geometry.coordinates];
  if (outlinePolys.length !== 1 || !ringIsBox(outlinePolys[0][0], BOX)) throw new Error(`the outline is not the box: ${JSON.stringify(levels[0].geometry)}`);
  // Fitted: the view holds the box, and the box fills most of it one way (the page's default
  // view of Paris holds it too, but loosely: about 60 % of its height).
  const v = s.view;
  const [w, so, e, n] = BOX;
  if (!(v.west <= w && v.south <= so && v.east >= e && v.north >= n)) throw new Error(`the view ${JSON.stringify(v)} does not hold the box`);
  const fill = Math.max((e - w) / (v.east - v.west), (n - so) / (v.north - v.south));
  if (fill < 0.75) throw new Error(`the box fills ${(fill * 100).toFixed(0)} % of the view: not fitted (${JSON.stringify(v)})`);
  if (!new URL(page.url()).hash.includes(`map=${v.zoom.toFixed(2)}/`)) throw new Error(`the link does not follow the fitted view: ${page.url()}`);
  await page.screenshot({ path: join(outDir, 'territory-01-drawn.png') });
  return `layers ${s.at.mask}-${s.at.outline} between ${s.lastReference} and ${s.firstOperational}; one hole, the box; box fills ${(fill * 100).toFixed(0)} % of the view at zoom ${v.zoom.toFixed(2)}`;
});

// ---------------------------------------------------------------- 2. as drawn

await check('MapLibre hits the mask outside the box only; hiding it changes a pixel outside, none inside', async () => {
  const inside = await quietSpot(BOX);
  // Outside: a band west of the box, as wide as a fifth of it.
  const outside = await quietSpot([BOX[0] - (BOX[2] - BOX[0]) / 4, BOX[1], BOX[0] - 0.005, BOX[3]]);
  if (!inside || !outside) throw new Error(`no quiet pixel to look at: inside ${JSON.stringify(inside)}, outside ${JSON.stringify(outside)}`);
  const hits = await page.evaluate(
    ({ inside, outside, edge, MASK, OUTLINE }) => {
      const map = window.vigieMap;
      const at = (p, layer, r = 0) =>
        map.queryRenderedFeatures(
          [
            [p.x - r, p.y - r],
            [p.x + r, p.y + r],
          ],
          { layers: [layer] },
        ).length;
      const e = map.project(edge);
      return { maskIn: at(inside, MASK), maskOut: at(outside, MASK), outlineEdge: at(e, OUTLINE, 3), outlineIn: at(inside, OUTLINE, 3) };
    },
    { inside, outside, edge: [BOX[0], (BOX[1] + BOX[3]) / 2], MASK, OUTLINE },
  );
  if (hits.maskIn || !hits.maskOut) throw new Error(`the mask is hit inside ${hits.maskIn} times, outside ${hits.maskOut}`);
  if (!hits.outlineEdge || hits.outlineIn) throw new Error(`the outline is hit on the box's edge ${hits.outlineEdge} times, inside ${hits.outlineIn}`);
  await waitIdle(page);
  const shown = await pixels([inside, outside]);
  await page.evaluate((id) => window.vigieMap.setLayoutProperty(id, 'visibility', 'none'), MASK);
  const hidden = await pixels([inside, outside]);
  await page.evaluate((id) => window.vigieMap.setLayoutProperty(id, 'visibility', 'visible'), MASK);
  const diff = (a, b) => Math.max(...a.slice(0, 3).map((c, i) => Math.abs(c - b[i])));
  if (diff(shown[0], hidden[0]) > 2) throw new Error(`inside the box the mask changes the pixel: ${shown[0]} with it, ${hidden[0]} without`);
  if (!(sum(hidden[1]) - sum(shown[1]) > 30)) throw new Error(`outside the box the mask does not grey the pixel: ${shown[1]} with it, ${hidden[1]} without`);
  return `mask hit outside (${hits.maskOut}), not inside; outline on the edge (${hits.outlineEdge}); pixel inside ${shown[0]} either way, outside ${hidden[1]} → ${shown[1]}`;
});

// ---------------------------------------------------------------- 3. the legend

await check('the legend names the territory, in French and in English', async () => {
  const legend = page.locator('#territory-legend');
  if (!(await legend.isVisible())) throw new Error('the territory legend is hidden');
  const fr = await legend.locator('.legend-title').textContent();
  if (fr !== 'Votre territoire') throw new Error(`the legend's title is "${fr}"`);
  await legend.screenshot({ path: join(outDir, 'territory-01-legend.png') });
  await page.locator('#lang').click();
  const en = await legend.locator('.legend-title').textContent();
  await page.locator('#lang').click();
  if (en !== 'Your territory') throw new Error(`in English the legend's title is "${en}"`);
  if ((await legend.locator('.legend-title').textContent()) !== 'Votre territoire') throw new Error('the legend did not come back to French');
  return `"${fr}" / "${en}"`;
});

// ---------------------------------------------------------------- 4. a new style

await check('the territory comes back on a new style (wall mode and back), in its colours', async () => {
  /** Waits until the mask and the outline are drawn, the mask in `colour`. */
  const drawnIn = (colour) =>
    page.waitForFunction(
      ({ MASK, OUTLINE, colour }) => {
        const map = window.vigieMap;
        return map.getLayer(MASK) && map.getLayer(OUTLINE) && map.getPaintProperty(MASK, 'fill-color') === colour;
      },
      { MASK, OUTLINE, colour },
      { timeout: 15_000, polling: 100 },
    );
  const desk = await page.evaluate((id) => window.vigieMap.getPaintProperty(id, 'fill-color'), MASK);
  const before = (await mapState()).order.length;
  await page.locator('#mode').click();
  await page.waitForFunction(() => window.vigieMap.getStyle().metadata?.['vigie:mode'] === 'wall', null, { timeout: 15_000, polling: 100 });
  await drawnIn('#475569').catch(() => {
    throw new Error('in the wall mode the territory is not drawn in its slate grey');
  });
  const wall = await mapState();
  if (!(wall.lastReference < wall.at.mask && wall.at.outline < wall.firstOperational)) throw new Error(`in the wall mode the territory is at ${wall.at.mask}-${wall.at.outline}: ${wall.order.join(', ')}`);
  await page.screenshot({ path: join(outDir, 'territory-02-wall.png') });
  await page.locator('#mode').click();
  await drawnIn(desk).catch(() => {
    throw new Error(`back in the desk mode the mask is not drawn in ${desk}`);
  });
  await waitIdle(page);
  const after = (await mapState()).order.length;
  if (after !== before) throw new Error(`${before} style layers before the wall mode, ${after} after it`);
  return `mask ${desk} → #475569 → ${desk}; ${after} style layers, as before`;
});

// ---------------------------------------------------------------- 5. a link's view is kept

await check('a link with a view keeps it: the territory is drawn, the map not moved', async () => {
  await page.goto('about:blank');
  const linked = { zoom: 10, lat: 48.5, lon: 1.8 };
  await page.goto(`${base}/#map=${linked.zoom.toFixed(2)}/${linked.lat.toFixed(5)}/${linked.lon.toFixed(5)}`);
  await territoryDrawn();
  await waitIdle(page);
  const v = (await mapState()).view;
  if (Math.abs(v.zoom - linked.zoom) > 0.01 || Math.abs(v.center[0] - linked.lon) > 1e-4 || Math.abs(v.center[1] - linked.lat) > 1e-4) {
    throw new Error(`the view moved from the link's ${JSON.stringify(linked)} to ${JSON.stringify(v)}`);
  }
  await page.screenshot({ path: join(outDir, 'territory-03-linked-view.png') });
  return `zoom ${v.zoom.toFixed(2)} at ${v.center.map((c) => c.toFixed(4)).join(', ')}`;
});

// ---------------------------------------------------------------- 6. the whole workspace back

await check('the whole workspace given back: signed in again, the territory comes off the map; a fresh page draws none', async () => {
  await setTerritory(null);
  const cookie = (await context.cookies(base)).find((c) => c.name === SESSION_COOKIE)?.value;
  const csrf = await page.evaluate(() => window.vigie.me.csrf);
  if (!cookie) throw new Error(`no ${SESSION_COOKIE} cookie in the browser`);
  // The session ends elsewhere (same cookie, from Node); the page's next request gets a 401.
  const reader = nodeApi(base, { Cookie: `${SESSION_COOKIE}=${cookie}` });
  const out = await reader('/api/session', { method: 'DELETE', headers: { 'X-CSRF-Token': csrf } });
  if (out.status !== 204) throw new Error(`DELETE /api/session from Node answered ${out.status}`);
  const deadline = Date.now() + 5_000;
  while ((await reader('/api/me')).status !== 401) {
    if (Date.now() > deadline) throw new Error('the ended session is still accepted 5 s later');
    await new Promise((ok) => setTimeout(ok, 100));
  }
  await page.evaluate(() => {
    window.__samePage = true;
  });
  if (!(await page.evaluate((id) => !!window.vigieMap.getLayer(id), MASK))) throw new Error('the mask went before signing in again');
  await page.getByRole('checkbox', { name: 'Limiter à la vue' }).check();
  await dialogShown();
  await signIn();
  await territoryDrawn(false);
  if (!(await page.evaluate(() => window.__samePage === true))) throw new Error('the page reloaded instead of following the new identity');
  const gone = await page.evaluate((id) => ({ source: !!window.vigieMap.getSource(id), me: window.vigie.me.territory, levels: window.vigie.territory.levels().length }), SOURCE);
  if (gone.source || gone.me !== null || gone.levels) throw new Error(`after signing in again: ${JSON.stringify(gone)}`);
  if (await page.locator('#territory-legend').isVisible()) throw new Error('the territory legend is still shown');
  await page.getByRole('button', { name: 'Points de situation' }).waitFor({ timeout: 5_000 });
  await page.screenshot({ path: join(outDir, 'territory-04-whole.png') });
  // A fresh page: GET /api/me says there is no territory, nothing is drawn.
  await page.reload();
  await page.waitForFunction(() => window.vigieMap?.loaded() && window.vigie.territory, null, { timeout: 15_000, polling: 100 });
  await waitIdle(page);
  const fresh = await page.evaluate(({ ids, SOURCE }) => [...ids.filter((id) => window.vigieMap.getLayer(id)), ...(window.vigieMap.getSource(SOURCE) ? [SOURCE] : [])], { ids: [MASK, OUTLINE, OUTER], SOURCE });
  if (fresh.length) throw new Error(`a fresh page still draws ${fresh.join(', ')}`);
  if (await page.locator('#territory-legend').isVisible()) throw new Error('a fresh page shows the territory legend');
  return 'layers, source and legend gone after signing in again (no reload), and on a fresh page';
});

// ---------------------------------------------------------------- 7. errors

await check('no page error, no console error, no failed request but the ended session’s 401s and the narrowed reader’s reports and staffing', async () => {
  if (pageErrors.length) throw new Error(`uncaught page errors: ${pageErrors.join(' | ')}`);
  if (consoleErrors.length) throw new Error(`console errors: ${consoleErrors.join(' | ')}`);
  // A narrowed reader may see neither the reports nor the staffing (the workspace's whole).
  const bad = badResponses.filter((k) => !k.endsWith(' 401') && k !== 'GET /api/reports 403' && k !== 'GET /api/staffing 403');
  if (bad.length) throw new Error(`failed requests: ${bad.join(', ')}`);
  const count = (suffix) => badResponses.filter((k) => k.endsWith(suffix)).length;
  return `${count(' 401')} answers 401 while the session had ended, ${count('/api/reports 403')} GET /api/reports 403 while narrowed`;
});

await finish(0);
console.log(`\nterritory browser tests: ${results.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`screenshots: ${outDir}/territory-*.png`);
