#!/usr/bin/env node
// Staffing in the web view (issue 17), in a real browser: Debian's Chromium driven by
// playwright-core, two pages each in their own browser, against the anonymous loopback demo
// started by tests/e2e/browser.rs (`--demo`: a plan of 40 positions over 8 directorates and 160
// officers; the demo identity is admin there, so a staffing manager).
//
//   node tests/browser/staffing.mjs http://127.0.0.1:8080
//
// Checks, each failing with a message that says what went wrong:
//   1. the "Armement" button with the level in effect; the dialog's grid: the plan's 40
//      positions as rows, the window's shifts (GET /api/staffing/shifts) as columns, the cells
//      short of people highlighted, as many as the gap report (GET /api/staffing/gaps) lists,
//      and the totals line with the report's figures
//   2. an officer of a position's directorate dragged onto a short cell of it: the cell shows
//      them, confirmed, and the API has the assignment; an officer of another directorate
//      dragged onto another cell: the 422 is shown in the dialog's alert with the rule
//      "directorate", and nothing is stored or drawn
//   3. page B, the staffing layer shown from the layer panel and the dialog open; page A raises
//      the level to "crise" with a reason: within 5 s, B's header badge and dialog say "crise"
//      and B's totals are the gap report's at that level, without reloading (the stream's
//      `staffing` events); B's map then draws the staffing places at "crise"
//   4. "Suggérer" on A: fewer cells short, proposals shown dashed; "Confirmer les propositions":
//      no proposal left, in A's grid, in B's (live) and in the API
//   5. no page error, no console error, no failed request but the 422 of check 2
// Screenshots: tests/out/staffing-*.png. Exits 1 on the first failed check; a missing Chromium or
// playwright-core is a failure with what to install, never a skip.

import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { baseUrl, launchOrFail, nodeApi, outDir, requireDemoAdmin, results, started, watchPage } from './harness.mjs';

const base = baseUrl('node tests/browser/staffing.mjs http://127.0.0.1:PORT (vigie --demo on a loopback address)');
/** How long a change made in one page may take to show in the other, ms: a wait bound, not a
 * latency target (2 s failed on a slower 2-core machine with the whole suite running beside it). */
const LIVE_MS = 5_000;
/** The level page A raises to. */
const RAISED = 'crise';

await requireDemoAdmin(nodeApi(base));

// ---------------------------------------------------------------- browsers

const first = await launchOrFail();
const second = await launchOrFail();
const closeAll = async () => {
  await first.close().catch(() => {});
  await second.close().catch(() => {});
};
const A = await watchPage(first.context, { prefix: 'staffing-a-', close: closeAll });
const B = await watchPage(second.context, { prefix: 'staffing-b-', close: closeAll });
const check = A.check;
const checkB = B.check;

/** Fails the check unless `got` deeply equals `want`. */
const expect = (what, got, want) => {
  if (!isDeepStrictEqual(got, want)) throw new Error(`${what}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
};

/** GET `path` with the page's own request context (its cookies, its identity): the JSON body. */
async function get(page, path) {
  const r = await page.request.get(base + path);
  if (r.status() !== 200) throw new Error(`GET ${path} answered ${r.status()}`);
  return r.json();
}

/** Waits until `fn` (run in the page with `arg`) is true, failing with `what`. */
async function until(page, what, fn, arg, timeout = 5_000) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch {
    throw new Error(`${what} (not within ${timeout / 1000} s)`);
  }
}

/** Opens the page and waits for the map and the "Armement" button. */
async function openPage(page) {
  await page.goto(`${base}/`);
  await page.waitForFunction(() => window.vigie && window.vigieMap?.loaded(), null, { timeout: 30_000, polling: 100 });
  await page.locator('#staffing-open').waitFor({ state: 'visible', timeout: 5_000 });
}

/** Opens the dialog and waits for its grid. */
async function openDialog(page) {
  await page.getByRole('button', { name: /^Armement/ }).click();
  await page.locator('#staffing-dialog').waitFor({ state: 'visible', timeout: 2_000 });
  await page.locator('#staffing-grid tbody tr').first().waitFor({ timeout: 10_000 });
}

/** The window the dialog shows, as a query string (`from`, `days`). */
async function windowQuery(page) {
  const from = await page.locator('#staffing-from').inputValue();
  const days = await page.locator('#staffing-days').inputValue();
  return new URLSearchParams({ from, days }).toString();
}

/** The totals line as shown: `{needed, confirmed, proposed, short}`. */
const shownTotals = (page) =>
  page.locator('#staffing-totals [data-total]').evaluateAll((els) => Object.fromEntries(els.map((el) => [el.dataset.total, Number(el.dataset.value)])));

/** Cells by state: `{short, covered, full, closed}` counts. */
const cellStates = (page) =>
  page.locator('#staffing-grid td[data-state]').evaluateAll((tds) => tds.reduce((c, td) => ((c[td.dataset.state] = (c[td.dataset.state] || 0) + 1), c), {}));

/**
 * A chip's status and how it is drawn: `[status, border style, font style]`. Read in one go:
 * a live redraw may replace the element between two of Playwright's steps.
 */
const chipStyle = (page, selector) =>
  page.evaluate((sel) => {
    const el = document.querySelector(sel);
    const css = el && getComputedStyle(el);
    return el ? [el.dataset.status, css.borderTopStyle, css.fontStyle] : null;
  }, selector);

const pick = (t, keys) => Object.fromEntries(keys.map((k) => [k, t[k]]));
const TOTALS = ['needed', 'confirmed', 'proposed', 'short'];

// ---------------------------------------------------------------- 1. the grid

let plan = null;
let win = '';
await check('the "Armement" dialog: 40 positions by the window’s shifts, short cells highlighted, the gap report’s totals', async () => {
  await openPage(A.page);
  const overview = await get(A.page, '/api/staffing');
  plan = overview.plan;
  expect('the plan’s positions', plan.positions.length, 40);
  expect('the header badge', (await A.page.locator('#staffing-level-badge').textContent()).trim(), overview.level.name);
  await openDialog(A.page);
  win = await windowQuery(A.page);
  const shifts = (await get(A.page, `/api/staffing/shifts?${win}`)).shifts;
  expect('the window’s days', new URLSearchParams(win).get('days'), '3');
  const columns = await A.page.locator('#staffing-grid thead th[data-shift]').evaluateAll((ths) => ths.map((th) => `${th.dataset.day} ${th.dataset.shift}`));
  expect('the columns', columns, shifts.map((s) => `${s.day} ${s.shift}`));
  const rows = await A.page.locator('#staffing-grid tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.position));
  expect('the rows', rows, plan.positions.map((p) => p.id));
  expect('cells', await A.page.locator('#staffing-grid td[data-state]').count(), 40 * shifts.length);
  const gaps = await get(A.page, `/api/staffing/gaps?${win}`);
  const states = await cellStates(A.page);
  if (!(states.short > 0)) throw new Error(`no cell shown short: ${JSON.stringify(states)}`);
  // Every slot the gap report lists is a cell short of confirmed people (red, or amber when
  // proposals would cover it).
  expect('cells short (red and amber)', (states.short || 0) + (states.covered || 0), gaps.gaps_total);
  const red = await A.page.locator('#staffing-grid td.cell-short').first().evaluate((td) => getComputedStyle(td).backgroundColor);
  if (!/^rgba?\((2\d\d), (\d+), (\d+)/.test(red) || red === 'rgba(0, 0, 0, 0)') throw new Error(`a short cell is not tinted: ${red}`);
  expect('the totals line', await shownTotals(A.page), pick(gaps.totals, TOTALS));
  const closed = plan.positions.filter((p) => p.needs[overview.level.index] === 0).length * shifts.length;
  expect('closed cells (no need at the level)', states.closed || 0, closed);
  await A.page.screenshot({ path: join(outDir, 'staffing-01-grid.png') });
  return `${rows.length} rows × ${columns.length} shifts; ${states.short} short, ${states.closed} closed; short ${gaps.totals.short} of ${gaps.totals.needed}`;
});

// ---------------------------------------------------------------- 2. drag and drop

await check('an officer of the directorate dragged onto a short cell holds it; one of another directorate is refused ("directorate"), nothing stored', async () => {
  const level = (await get(A.page, '/api/staffing')).level.index;
  const pos = plan.positions.find((p) => p.needs[level] > 0 && !(p.skills || []).length);
  if (!pos) throw new Error('no open position without skills in the plan');
  const cells = A.page.locator(`#staffing-grid td[data-position="${pos.id}"][data-state="short"]`);
  if ((await cells.count()) < 2) throw new Error(`position ${pos.id} has fewer than 2 short cells`);
  const target = cells.first();
  const [day, shift] = [await target.getAttribute('data-day'), await target.getAttribute('data-shift')];
  const cellOf = () => A.page.locator(`#staffing-grid td[data-position="${pos.id}"][data-day="${day}"][data-shift="${shift}"]`);

  // The right directorate.
  await A.page.getByLabel('Direction', { exact: true }).selectOption(pos.directorate);
  const officer = A.page.locator(`#staffing-people-list li[data-directorate="${pos.directorate}"]`).first();
  const id = await officer.getAttribute('data-person');
  const answer = A.page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/staffing/assignments');
  await officer.dragTo(cellOf());
  expect('POST /api/staffing/assignments', (await answer).status(), 201);
  await cellOf().locator(`.chip[data-person="${id}"]`).waitFor({ timeout: 2_000 });
  expect('the cell after the drop', await cellOf().evaluate((td) => [td.dataset.state, td.querySelector('.chip').dataset.status]), ['full', 'confirmed']);
  const stored = (await get(A.page, `/api/staffing/assignments?${win}`)).assignments;
  expect('the API’s assignments', stored.map((a) => [a.person, a.position, a.day, a.shift, a.status]), [[id, pos.id, day, shift, 'confirmed']]);

  // Another directorate, onto the position's next short cell.
  const other = plan.positions.map((p) => p.directorate).find((d) => d !== pos.directorate);
  await A.page.getByLabel('Direction', { exact: true }).selectOption(other);
  const stranger = A.page.locator(`#staffing-people-list li[data-directorate="${other}"]`).first();
  const strangerId = await stranger.getAttribute('data-person');
  const second = A.page.locator(`#staffing-grid td[data-position="${pos.id}"][data-state="short"]`).first();
  const secondKey = [await second.getAttribute('data-day'), await second.getAttribute('data-shift')];
  A.expectedFailures.push('POST /api/staffing/assignments 422');
  const refused = A.page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/staffing/assignments');
  await stranger.dragTo(second);
  expect('POST /api/staffing/assignments', (await refused).status(), 422);
  const alertBox = A.page.getByRole('alert').filter({ has: A.page.locator('[data-rule]') });
  await alertBox.waitFor({ timeout: 2_000 });
  const rules = await alertBox.locator('[data-rule]').evaluateAll((lis) => lis.map((li) => li.dataset.rule));
  if (!rules.includes('directorate')) throw new Error(`the alert names the rules ${JSON.stringify(rules)}, not "directorate"`);
  const text = await alertBox.textContent();
  if (!text.includes('directorate') || !text.includes(pos.directorate) || !text.includes(other)) throw new Error(`the alert says "${text}"`);
  const again = A.page.locator(`#staffing-grid td[data-position="${pos.id}"][data-day="${secondKey[0]}"][data-shift="${secondKey[1]}"]`);
  expect('the refused cell', await again.evaluate((td) => [td.dataset.state, td.querySelectorAll('.chip').length]), ['short', 0]);
  expect('chips of the refused officer', await A.page.locator(`#staffing-grid .chip[data-person="${strangerId}"]`).count(), 0);
  expect('the API’s assignments after the refusal', (await get(A.page, `/api/staffing/assignments?${win}`)).assignments.length, 1);
  await A.page.getByLabel('Direction', { exact: true }).selectOption('');
  await A.page.screenshot({ path: join(outDir, 'staffing-02-refused.png') });
  return `${id} on ${pos.id} ${day} ${shift}; ${strangerId} (${other}) refused: ${rules.join(', ')}`;
});

// ---------------------------------------------------------------- 3. live

await checkB(`A raises the level to "${RAISED}": B’s badge and totals follow within ${LIVE_MS / 1000} s, its map draws "${RAISED}"`, async () => {
  await openPage(B.page);
  // The staffing layer, not shown at start, from the layer panel.
  await B.page.locator('#layer-staffing').check();
  await until(B.page, 'B’s map draws no staffing place', () => window.vigieMap.queryRenderedFeatures().some((f) => f.sourceLayer === 'staffing'), null, 10_000);
  const before = await B.page.evaluate(() => [...new Set(window.vigieMap.queryRenderedFeatures().filter((f) => f.sourceLayer === 'staffing').map((f) => f.properties.level))]);
  expect('levels on B’s map before', before, ['veille']);
  await openDialog(B.page);
  const totalsBefore = await shownTotals(B.page);
  // A reload would lose this.
  await B.page.evaluate(() => (window.staffingMark = true));

  await A.page.getByLabel('Nouveau niveau').selectOption({ label: RAISED });
  await A.page.getByLabel('Motif (obligatoire)').fill('Essai : menace élevée sur les sites');
  const answer = A.page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/staffing/level');
  await A.page.getByRole('button', { name: 'Changer le niveau' }).click();
  expect('POST /api/staffing/level', (await answer).status(), 201);
  const t0 = Date.now();
  await until(
    B.page,
    `B’s badge, level and totals do not follow`,
    ({ level, needed }) =>
      document.getElementById('staffing-level-badge')?.textContent === level &&
      document.getElementById('staffing-level')?.textContent === level &&
      Number(document.querySelector('#staffing-totals [data-total="needed"]')?.dataset.value) !== needed,
    { level: RAISED, needed: totalsBefore.needed },
    LIVE_MS,
  );
  const ms = Date.now() - t0;
  if (!(await B.page.evaluate(() => window.staffingMark === true))) throw new Error('B’s page was reloaded');
  const overview = await get(B.page, '/api/staffing');
  expect('the API’s level', overview.level.name, RAISED);
  const gaps = await get(B.page, `/api/staffing/gaps?${await windowQuery(B.page)}`);
  expect('the gap report’s level', gaps.level.name, RAISED);
  await until(B.page, 'B’s totals are not the gap report’s', (want) => JSON.stringify(Object.fromEntries([...document.querySelectorAll('#staffing-totals [data-total]')].map((el) => [el.dataset.total, Number(el.dataset.value)]))) === want, JSON.stringify(pick(gaps.totals, TOTALS)), LIVE_MS);
  expect('A’s level', (await A.page.locator('#staffing-level').textContent()).trim(), RAISED);
  // The map: every staffing place drawn now says the new level.
  await until(
    B.page,
    `B’s map does not draw the staffing places at "${RAISED}"`,
    (level) => {
      const f = window.vigieMap.queryRenderedFeatures().filter((x) => x.sourceLayer === 'staffing');
      return f.length > 0 && f.every((x) => x.properties.level === level);
    },
    RAISED,
  );
  await B.page.screenshot({ path: join(outDir, 'staffing-03-live.png') });
  return `B followed in ${ms} ms: needed ${totalsBefore.needed} → ${gaps.totals.needed}, short ${gaps.totals.short}`;
});

// ---------------------------------------------------------------- 4. suggestions

await check('"Suggérer" fills cells with proposals (dashed); "Confirmer les propositions" turns them solid, in both pages and the API', async () => {
  await until(A.page, 'A’s grid is not at the new level', (level) => document.querySelector('#staffing-plan-level option[value=""]')?.textContent.includes(level), RAISED);
  const before = await cellStates(A.page);
  const answer = A.page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/staffing/suggestions');
  await A.page.getByRole('button', { name: 'Suggérer' }).click();
  const r = await answer;
  expect('POST /api/staffing/suggestions', r.status(), 200);
  const suggested = await r.json();
  if (!(suggested.applied.length > 0)) throw new Error(`no proposal applied: ${JSON.stringify(suggested).slice(0, 300)}`);
  await until(A.page, 'the proposals are not drawn', (n) => document.querySelectorAll('#staffing-grid .chip[data-status="proposed"]').length === n, suggested.applied.length);
  const after = await cellStates(A.page);
  if (!((after.short || 0) < before.short)) throw new Error(`cells short before ${before.short}, after ${after.short || 0}`);
  const dashed = await chipStyle(A.page, '#staffing-grid .chip[data-status="proposed"]');
  expect('a proposal’s chip', dashed, ['proposed', 'dashed', 'italic']);
  await A.page.screenshot({ path: join(outDir, 'staffing-04-suggested.png') });

  const confirm = A.page.getByRole('button', { name: `Confirmer les propositions (${suggested.applied.length})` });
  const confirmed = A.page.waitForResponse((x) => x.request().method() === 'POST' && new URL(x.url()).pathname === '/api/staffing/assignments/confirm');
  await confirm.click();
  const c = await confirmed;
  expect('POST /api/staffing/assignments/confirm', [c.status(), (await c.json()).confirmed], [200, suggested.applied.length]);
  for (const [who, w] of [
    ['A', A],
    ['B', B],
  ]) {
    await until(w.page, `${who}’s grid still shows proposals`, () => document.querySelectorAll('#staffing-grid .chip').length > 0 && !document.querySelector('#staffing-grid .chip[data-status="proposed"]'));
  }
  const solid = await chipStyle(A.page, `#staffing-grid .chip[data-assignment="${suggested.applied[0]}"]`);
  expect('a confirmed proposal’s chip', solid, ['confirmed', 'solid', 'normal']);
  const stored = (await get(A.page, `/api/staffing/assignments?${win}`)).assignments;
  expect('proposals left in the API', stored.filter((a) => a.status === 'proposed').length, 0);
  expect('chips in A’s grid', await A.page.locator('#staffing-grid .chip').count(), stored.filter((a) => a.status !== 'declined').length);
  const final = await get(A.page, `/api/staffing/gaps?${win}`);
  expect('the totals line at the end', await shownTotals(A.page), pick(final.totals, TOTALS));
  await A.page.screenshot({ path: join(outDir, 'staffing-05-confirmed.png') });
  return `${suggested.applied.length} proposals; short cells ${before.short} → ${after.short || 0}; short ${final.totals.short} of ${final.totals.needed}`;
});

// ---------------------------------------------------------------- 5. no errors

await check('no page error, no console error, no failed request but the 422', async () => {
  for (const [name, w] of [
    ['A', A],
    ['B', B],
  ]) {
    if (w.pageErrors.length) throw new Error(`${name} page errors: ${w.pageErrors.join(' | ')}`);
    if (w.consoleErrors.length) throw new Error(`${name} console errors: ${w.consoleErrors.join(' | ')}`);
    if (w.badResponses.length) throw new Error(`${name} failed requests: ${w.badResponses.join(', ')}`);
  }
  if (A.expectedFailures.length) throw new Error(`the refusal never came: ${A.expectedFailures.join(', ')}`);
  return 'clean';
});

await A.finish(0);
console.log(`\nstaffing browser tests: ${results.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`screenshots: ${outDir}/staffing-*.png`);
