#!/usr/bin/env node
// Offline packs from the hypervision page, in a real browser: Debian's Chromium driven by
// playwright-core, against a vigie serving the anonymous loopback demo with the départements
// imported and a tile limit of VIGIE_TEST_EXPORT_MAX_TILES per pack (started by
// tests/e2e/exports_dialog.rs).
//
//   VIGIE_TEST_EXPORT_MAX_TILES=20000 node tests/browser/exports.mjs http://127.0.0.1:8080
//
// Checks, each failing with a message that says what went wrong:
//   1. over central Paris at zoom 12, the header's "Exporter un pack hors ligne" ("Pack hors
//      ligne" on screen) opens the dialog with the map's defaults: the view's bounds (5
//      decimals), zooms 12 to 16, the layers of the composite tile URL and the filters that URL
//      carries, read-only; the départements offered by code; no export listed yet
//   2. an export to zoom 13: the page POSTs exactly that request, the bar reaches 100 % with a
//      rate in tiles/s, the Download link appears; the file it downloads starts with the
//      PMTiles magic, is PMTiles v3 and has the size the dialog announced (the job's
//      `written.bytes`); the style link's style reads that very file (`pmtiles://<its name>`)
//   3. zoom 0 to 18 over the view: the server's 413 detail (the count and the limit) is shown
//      word for word, and nothing else changed
//   4. an export of a département by its code (`departements:75`, no bbox) runs to its end
//   5. a running export (to zoom 16) cancelled from its Cancel button: the dialog says so and
//      the server has forgotten it — or, when it ended before the click could land, the dialog
//      shows it done with its Download link (the run says which)
//   6. the list of the asker's exports matches GET /api/exports: status, and a download link
//      to each finished pack; "Supprimer" removes one (gone from the list and the API)
//   7. in English the action reads "Export offline pack" and the job its status in English
//   8. no request left the server's origin, none failed but the 413 provoked; no page or
//      console error
// Screenshots: tests/out/exports-*.png. Exits 1 on the first failed check; a missing Chromium
// or playwright-core is a failure with what to install, never a skip.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { baseUrl, fail, launchOrFail, nodeApi, outDir, requireDemoAdmin, results, sameOriginAndClean, started, watchPage } from './harness.mjs';
import { waitIdle } from './map.mjs';

const base = baseUrl('VIGIE_TEST_EXPORT_MAX_TILES=N node tests/browser/exports.mjs http://127.0.0.1:PORT (vigie serve --demo, départements imported)');
const origin = new URL(base).origin;
const api = nodeApi(base);
/** The server's `export_max_tiles`, which the 413 must name. */
const MAX_TILES = Number(process.env.VIGIE_TEST_EXPORT_MAX_TILES);
if (!Number.isInteger(MAX_TILES) || MAX_TILES <= 0) fail('VIGIE_TEST_EXPORT_MAX_TILES must be the server’s export_max_tiles');
/** Central Paris at zoom 12. */
const VIEW = '#map=12.00/48.85660/2.34220';
/** The magic of a PMTiles archive, its first bytes. */
const MAGIC = 'PMTiles';
/** How long an export of the test may run, ms (a few thousand tiles of the demo take ~1 s). */
const EXPORT_TIMEOUT_MS = 60_000;

// ---------------------------------------------------------------- prerequisites

await requireDemoAdmin(api);
{
  // The import reaches the running server's catalog within a few seconds.
  const until = Date.now() + 30_000;
  for (;;) {
    const layer = (await api('/catalog')).body?.layers?.find((l) => l.id === 'departements');
    if (layer?.features > 0) break;
    if (Date.now() > until) fail(`the départements are not in GET /catalog 30 s after their import: ${JSON.stringify(layer)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ---------------------------------------------------------------- browser

const { context, close } = await launchOrFail();
const requests = [];
context.on('request', (r) => requests.push(r.url()));
const { page, check, finish, expectedFailures, badResponses, pageErrors, consoleErrors } = await watchPage(context, { prefix: 'exports-', close });

/** The bodies of the page's POST /api/exports, in order. */
const posted = [];
page.on('request', (r) => {
  if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/exports') posted.push(r.postDataJSON());
});

/** What the map shows, read from the page: the composite tile URL's layers and filters, the view. */
const shown = () =>
  page.evaluate(() => {
    const map = window.vigieMap;
    const url = new URL(window.vigie.currentTileUrl.replace(/\{[xyz]\}/g, '0'));
    const [, ids] = /\/tiles\/([^/]+)\//.exec(url.pathname);
    url.searchParams.delete('rev');
    const b = map.getBounds();
    return {
      layers: ids.split(',').map(decodeURIComponent),
      filters: [...url.searchParams].map(([k, v]) => `${k}=${v}`),
      filterQuery: url.searchParams.toString(),
      zoom: map.getZoom(),
      bbox: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(','),
    };
  });

/** The dialog as the user sees it. */
const dialogState = () =>
  page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    const visible = (el) => !!el && !el.hidden && !el.closest('[hidden]') && el.getClientRects().length > 0;
    const progress = $('exports-progress');
    return {
      open: $('exports-dialog').open,
      title: $('exports-h').textContent,
      bbox: $('exports-bbox').textContent,
      viewChecked: $('exports-area-view').checked,
      areaOffered: visible($('exports-area-code-choice')),
      areaLabel: $('exports-area-code-label').textContent,
      minzoom: $('exports-minzoom').value,
      maxzoom: $('exports-maxzoom').value,
      layers: [...$('exports-layers').querySelectorAll('li[data-layer]')].map((li) => li.dataset.layer),
      filters: [...$('exports-filters').querySelectorAll('li[data-filter] code')].map((c) => c.textContent),
      readOnly: $('exports-layers').querySelectorAll('input, select, textarea').length + $('exports-filters').querySelectorAll('input, select, textarea').length === 0,
      error: $('exports-error').textContent,
      job: visible($('exports-job')) ? $('exports-job').dataset.status : null,
      heading: $('exports-job-h').textContent,
      value: progress.value,
      max: progress.max,
      text: $('exports-progress-text').textContent,
      jobError: $('exports-job-error').textContent,
      cancel: visible($('exports-cancel')),
      download: visible($('exports-download')) ? { href: $('exports-download').getAttribute('href'), text: $('exports-download').textContent, bytes: $('exports-download').dataset.bytes } : null,
      style: visible($('exports-style')) ? $('exports-style').getAttribute('href') : null,
      start: !$('exports-start').disabled,
      listStatus: $('exports-list-status').textContent,
      rows: [...$('exports-rows').querySelectorAll('tr')].map((tr) => ({
        id: tr.dataset.id,
        status: tr.dataset.status,
        badge: tr.querySelector('.exports-status')?.textContent,
        pack: tr.querySelector('a.exports-pack')?.getAttribute('href') || null,
        style: tr.querySelector('a.exports-style')?.getAttribute('href') || null,
      })),
    };
  });

/** Clicks Start and waits for the answer to the POST it makes: `{status, body}`. */
async function startExport() {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/exports', { timeout: 10_000 }),
    page.locator('#exports-start').click(),
  ]);
  return { status: resp.status(), body: await resp.json() };
}

/** Waits until the dialog follows export `id` and it no longer runs; the dialog then. */
async function ended(id) {
  await page.waitForFunction(
    (i) => {
      const box = document.getElementById('exports-job');
      return box.dataset.id === i && box.dataset.status && box.dataset.status !== 'running';
    },
    String(id),
    { timeout: EXPORT_TIMEOUT_MS, polling: 50 },
  );
  return dialogState();
}

/** The digits of a number as the page wrote it ("21 266" with any space) as a number. */
const digits = (s) => Number(String(s).replace(/[^\d]/g, ''));

/** Fails unless a finished export shows 100 %, a rate and its download link. */
function assertDone(s, label) {
  if (s.job !== 'done') throw new Error(`${label}: the dialog says ${s.job} (${s.heading}; ${s.text}; ${s.jobError})`);
  if (s.value !== s.max || s.max < 1) throw new Error(`${label}: the bar is at ${s.value} of ${s.max}`);
  if (!/\(100\s?%\)/.test(s.text)) throw new Error(`${label}: no "100 %" in "${s.text}"`);
  if (!/\d\s?tuiles\/s/.test(s.text)) throw new Error(`${label}: no rate in tiles/s in "${s.text}"`);
  if (!s.download || !s.style) throw new Error(`${label}: no Download or style link: ${JSON.stringify(s.download)} ${s.style}`);
  if (s.cancel) throw new Error(`${label}: Cancel is still offered`);
}

let view = null;
let first = null;

// ---------------------------------------------------------------- 1. the dialog's defaults

await check('the action opens the dialog with the map’s view, zooms, layers and filters', async () => {
  await page.goto(`${base}/${VIEW}`, { waitUntil: 'networkidle' });
  await page.waitForFunction(() => window.vigieMap?.loaded() && window.vigie.currentTileUrl, null, { timeout: 20_000, polling: 100 });
  await waitIdle(page);
  // Named in full for assistive technology, shorter on the crowded header.
  const opener = page.getByRole('button', { name: 'Exporter un pack hors ligne', exact: true });
  await opener.waitFor({ state: 'visible', timeout: 10_000 });
  const label = (await opener.textContent()).trim();
  if (label !== 'Pack hors ligne' || (await opener.getAttribute('id')) !== 'exports-open') throw new Error(`the header's action reads "${label}"`);
  view = await shown();
  if (Math.abs(view.zoom - 12) > 1e-6) throw new Error(`the map is at zoom ${view.zoom}, not the link's 12`);
  if (view.layers.length < 3 || !view.filters.length) throw new Error(`the tile URL shows too little to test: ${JSON.stringify(view)}`);
  await opener.click();
  await page.waitForFunction(() => document.getElementById('exports-dialog').open, null, { timeout: 5_000 });
  await page.waitForFunction(() => /./.test(document.getElementById('exports-list-status').textContent) || document.querySelector('#exports-rows tr'), null, { timeout: 5_000 });
  const s = await dialogState();
  const problems = [];
  if (s.bbox !== view.bbox) problems.push(`area ${s.bbox}, the view's bounds are ${view.bbox}`);
  if (!s.viewChecked) problems.push('the current view is not the chosen area');
  if (s.minzoom !== '12' || s.maxzoom !== '16') problems.push(`zooms ${s.minzoom}..${s.maxzoom}, expected 12..16`);
  if (s.layers.join(',') !== view.layers.join(',')) problems.push(`layers ${s.layers.join(',')}, the tile URL's are ${view.layers.join(',')}`);
  if (s.filters.join('&') !== view.filters.join('&')) problems.push(`filters ${s.filters.join('&')}, the tile URL's are ${view.filters.join('&')}`);
  if (!s.readOnly) problems.push('the layers or filters can be edited in the dialog');
  if (!s.areaOffered || !/Départements/.test(s.areaLabel)) problems.push(`the départements are not offered by code ("${s.areaLabel}")`);
  if (s.job !== null) problems.push(`an export is shown before any: ${s.job}`);
  if (s.rows.length || !/Aucun export/.test(s.listStatus)) problems.push(`previous exports: ${JSON.stringify(s.rows)} "${s.listStatus}"`);
  if (problems.length) throw new Error(problems.join('; '));
  await page.screenshot({ path: join(outDir, 'exports-01-dialog.png') });
  return `${s.bbox}, z${s.minzoom}–${s.maxzoom}, ${s.layers.length} layers, filters ${s.filters.join('&')}`;
});

// ---------------------------------------------------------------- 2. an export, downloaded

await check('an export to zoom 13 reaches 100 % and its pack downloads with the size announced', async () => {
  await page.locator('#exports-maxzoom').fill('13');
  const answer = await startExport();
  if (answer.status !== 202) throw new Error(`POST /api/exports answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  const s = await ended(answer.body.id);
  assertDone(s, 'z12–13');
  const sent = posted.at(-1);
  const expected = { layers: view.layers.join(','), minzoom: 12, maxzoom: 13, bbox: view.bbox, filters: view.filterQuery };
  if (JSON.stringify(sent) !== JSON.stringify(expected)) throw new Error(`POST /api/exports ${JSON.stringify(sent)}, expected ${JSON.stringify(expected)}`);
  const id = String(answer.body.id);
  if (!s.download.href.endsWith(`/api/exports/${id}/pack`)) throw new Error(`the Download link is ${s.download.href}`);
  const job = (await api(`/api/exports/${id}`)).body;
  if (job?.status !== 'done') throw new Error(`GET /api/exports/${id}: ${JSON.stringify(job)}`);
  if (digits(s.download.bytes) !== job.written.bytes) throw new Error(`the dialog announces ${s.download.bytes} bytes, the job wrote ${job.written.bytes}`);
  const announced = /([\d\s\u00a0\u202f]+) octets/.exec(s.text)?.[1];
  if (digits(announced) !== job.written.bytes) throw new Error(`the dialog's text "${s.text}" does not say ${job.written.bytes} octets`);
  if (s.max !== job.total) throw new Error(`the bar's end is ${s.max}, the job's total ${job.total}`);

  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10_000 }), page.locator('#exports-download').click()]);
  const failure = await download.failure();
  if (failure) throw new Error(`the download failed: ${failure}`);
  const bytes = readFileSync(await download.path());
  const name = download.suggestedFilename();
  if (bytes.subarray(0, MAGIC.length).toString('latin1') !== MAGIC) throw new Error(`${name} starts with ${JSON.stringify(bytes.subarray(0, 8).toString('latin1'))}, not the PMTiles magic`);
  if (bytes[7] !== 3) throw new Error(`${name} is PMTiles version ${bytes[7]}, not 3`);
  if (bytes.length !== job.written.bytes) throw new Error(`${name} holds ${bytes.length} bytes, the dialog announced ${job.written.bytes}`);
  if (!name.endsWith('.pmtiles')) throw new Error(`the download is named ${name}`);

  const style = await page.evaluate(async (href) => (await fetch(href)).json(), s.style);
  const urls = Object.values(style.sources || {}).map((src) => src.url);
  if (!urls.includes(`pmtiles://${name}`)) throw new Error(`the style's sources read ${urls.join(', ')}, not pmtiles://${name}`);
  first = { id, name, bytes: bytes.length, total: job.total };
  await page.screenshot({ path: join(outDir, 'exports-02-done.png') });
  return `export ${id}: ${job.total} tiles (${job.written.stored} stored), "${s.text}"; ${name} downloaded, ${bytes.length} bytes, magic ${MAGIC} v3`;
});

// ---------------------------------------------------------------- 3. refused over the limit

await check('zoom 0 to 18 is refused with the server’s 413 detail, word for word', async () => {
  await page.locator('#exports-minzoom').fill('0');
  await page.locator('#exports-maxzoom').fill('18');
  expectedFailures.push('POST /api/exports 413');
  const answer = await startExport();
  if (answer.status !== 413) throw new Error(`POST /api/exports answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  const detail = answer.body.detail;
  if (!new RegExp(`would hold \\d+ tiles, more than the limit of ${MAX_TILES}`).test(detail)) throw new Error(`the 413's detail does not name the count and the limit ${MAX_TILES}: ${detail}`);
  await page.waitForFunction(() => document.getElementById('exports-error').textContent, null, { timeout: 5_000, polling: 50 });
  const s = await dialogState();
  if (s.error !== detail) throw new Error(`the dialog shows "${s.error}", the server said "${detail}"`);
  if (s.job !== 'done' || !s.start) throw new Error(`after the refusal the dialog shows ${s.job}, Start ${s.start ? 'on' : 'off'}`);
  await page.screenshot({ path: join(outDir, 'exports-03-refused.png') });
  return detail;
});

// ---------------------------------------------------------------- 4. a département

let areaId = null;
await check('a département by its code (departements:75) is exported', async () => {
  await page.locator('#exports-area-code').check();
  await page.locator('#exports-code').fill('75');
  await page.locator('#exports-minzoom').fill('10');
  await page.locator('#exports-maxzoom').fill('12');
  const answer = await startExport();
  if (answer.status !== 202) throw new Error(`POST /api/exports answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  const s = await ended(answer.body.id);
  assertDone(s, 'departements:75');
  if (s.error) throw new Error(`the refusal is still shown: ${s.error}`);
  const sent = posted.at(-1);
  const expected = { layers: view.layers.join(','), minzoom: 10, maxzoom: 12, area: 'departements:75', filters: view.filterQuery };
  if (JSON.stringify(sent) !== JSON.stringify(expected)) throw new Error(`POST /api/exports ${JSON.stringify(sent)}, expected ${JSON.stringify(expected)}`);
  areaId = String(answer.body.id);
  await page.locator('#exports-area-view').check();
  return `export ${areaId}: "${s.text}"`;
});

// ---------------------------------------------------------------- 5. cancelled

let cancelled = null;
await check('a running export (to zoom 16) is cancelled from its Cancel button', async () => {
  await page.locator('#exports-minzoom').fill('12');
  await page.locator('#exports-maxzoom').fill('16');
  const answer = await startExport();
  if (answer.status !== 202) throw new Error(`POST /api/exports answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  const id = String(answer.body.id);
  await page.waitForFunction((i) => document.getElementById('exports-job').dataset.id === i, id, { timeout: 5_000, polling: 20 });
  const running = await dialogState();
  // Nearly always still running when its 202 is shown (the click below then cancels it).
  if (running.job === 'running') {
    const total = answer.body.total;
    if (!running.cancel || running.start || running.download) throw new Error(`while it runs: Cancel ${running.cancel}, Start ${running.start}, Download ${JSON.stringify(running.download)}`);
    const shownTotal = /^[\d\s]+ \/ ([\d\s]+) tuiles \(\d+\s?%\)/.exec(running.text)?.[1];
    if (running.max !== total || digits(shownTotal) !== total) throw new Error(`while it runs the bar ends at ${running.max} and reads "${running.text}" (total ${total})`);
  }
  let clicked = true;
  try {
    await page.locator('#exports-cancel').click({ timeout: 2_000 });
  } catch {
    clicked = false; // it ended (Cancel hidden) before the click could land
  }
  const s = await ended(id);
  if (s.job === 'cancelled') {
    if (!clicked) throw new Error('cancelled without a click');
    if (s.download || s.cancel) throw new Error(`a cancelled export still offers ${s.download ? 'Download' : 'Cancel'}`);
    if (!/annulé/.test(s.heading) || !/rien n’est conservé/.test(s.text)) throw new Error(`the dialog says "${s.heading}" / "${s.text}"`);
    const after = await api(`/api/exports/${id}`);
    if (after.status !== 404) throw new Error(`GET /api/exports/${id} after the cancel: ${after.status} ${JSON.stringify(after.body)}`);
    await page.waitForFunction((i) => !document.querySelector(`#exports-rows tr[data-id="${i}"]`), id, { timeout: 5_000, polling: 50 });
    cancelled = id;
  } else {
    // Too fast to be cancelled: then it is done, and says so.
    assertDone(s, `export ${id} (not cancelled in time)`);
  }
  await page.screenshot({ path: join(outDir, 'exports-04-cancel.png') });
  return `export ${id} ${s.job}${s.job === 'done' ? ' before the Cancel click could land' : ''}: "${s.heading}" — "${s.text}"`;
});

// ---------------------------------------------------------------- 6. the list

await check('the list shows the asker’s exports with their status and download links', async () => {
  const listed = (await api('/api/exports')).body.exports;
  await page.waitForFunction((n) => document.querySelectorAll('#exports-rows tr').length === n, listed.length, { timeout: 5_000, polling: 50 });
  const s = await dialogState();
  const want = listed.map((j) => `${j.id}:${j.status}`).join(' ');
  const got = s.rows.map((r) => `${r.id}:${r.status}`).join(' ');
  if (got !== want) throw new Error(`rows ${got}, GET /api/exports ${want}`);
  for (const row of s.rows) {
    const ok = row.status === 'done' ? row.pack?.endsWith(`/api/exports/${row.id}/pack`) && row.style?.endsWith(`/api/exports/${row.id}/style`) : !row.pack;
    if (!ok) throw new Error(`row ${row.id} (${row.status}) links ${row.pack} and ${row.style}`);
    if (row.status === 'done' && row.badge !== 'terminé') throw new Error(`row ${row.id} reads "${row.badge}"`);
  }
  for (const id of [first.id, areaId]) {
    if (!s.rows.some((r) => r.id === id && r.status === 'done')) throw new Error(`export ${id} is not listed as done`);
  }
  if (cancelled && s.rows.some((r) => r.id === cancelled)) throw new Error(`the cancelled export ${cancelled} is still listed`);
  // "Supprimer" on the département's export: gone from the list and from the server.
  await page.locator(`#exports-rows tr[data-id="${areaId}"] button`).click();
  await page.waitForFunction((i) => !document.querySelector(`#exports-rows tr[data-id="${i}"]`), areaId, { timeout: 5_000, polling: 50 });
  const gone = await api(`/api/exports/${areaId}`);
  if (gone.status !== 404) throw new Error(`GET /api/exports/${areaId} after "Supprimer": ${gone.status}`);
  await page.screenshot({ path: join(outDir, 'exports-05-list.png') });
  return `${s.rows.length} rows (${got}); export ${areaId} removed`;
});

// ---------------------------------------------------------------- 7. English

await check('in English the action and the job read in English', async () => {
  await page.locator('#exports-close').click();
  await page.locator('#lang').click();
  const action = await page.locator('#exports-open').getAttribute('aria-label');
  await page.getByRole('button', { name: 'Export offline pack', exact: true }).click();
  const s = await dialogState();
  await page.locator('#exports-close').click();
  await page.locator('#lang').click();
  if (action !== 'Export offline pack') throw new Error(`the action reads "${action}"`);
  if (s.title !== 'Export an offline pack' || !/^Export of .+: (done|cancelled)$/.test(s.heading) || !/ tiles \(/.test(s.text)) throw new Error(`in English: "${s.title}", "${s.heading}", "${s.text}"`);
  return `"${action}": "${s.heading}", "${s.text}"`;
});

// ---------------------------------------------------------------- 8. origin and errors

await check('no request outside the server origin, no failed request, no error', async () => {
  if (expectedFailures.length) throw new Error(`the failures provoked did not come: ${expectedFailures.join(', ')}`);
  return sameOriginAndClean({ requests, origin, badResponses, pageErrors, consoleErrors });
});

await finish(0);
console.log(`\nexports browser tests: ${results.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`screenshots: ${outDir}/exports-*.png`);
