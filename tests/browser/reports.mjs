#!/usr/bin/env node
// Situation reports in the web view (issue 16, item 7), in a real browser: Debian's Chromium
// driven by playwright-core, two editors each in their own browser, against a vigie started by
// tests/e2e/browser.rs with `--demo --require-sign-in`, both editors' accounts and an admin's API
// token made beforehand with the CLI.
//
//   VIGIE_TEST_ADMIN_TOKEN='Bearer …' VIGIE_TEST_EDITOR_A=anna:PASSWORD VIGIE_TEST_EDITOR_B=bruno:PASSWORD \
//     node tests/browser/reports.mjs http://127.0.0.1:8080
//
// The admin sets the report settings (three sections, one map) and makes a report over a day of
// the demo log through the API. Checks, each failing with a message that says what went wrong:
//   1. the "Points de situation" button, and the list: the report made through the API with its
//      period, status and edition; the text search finds it alone, a status filter hides it
//   2. the report opened: its sections in order, each a labelled textarea; the compiled parts
//      with the total of GET /api/reports/{id}/compiled, its tables and their queries, the map
//      image drawn, "En direct"; the one move a draft allows
//   3. presence: editor A in a section, editor B's page shows "anna édite" on it within seconds
//      (and the API says so); A's own page does not
//   4. the same section: B types, A saves, B is told ("modifiée par anna — …") and B's text
//      stays; B's save answers 412 and the conflict box shows both texts side by side; "Garder
//      mon texte" stores B's text as version 2, and A's page follows
//   5. two sections saved at once by A and B: both stored, each page shows the other's
//   6. the workflow: A sends it for review, validates and publishes (confirmed); B's page
//      follows each step live, its textareas read-only once validated, the figures frozen;
//      the API's history has the four steps by anna
//   7. "Aperçu PDF": GET …/pdf answers 200 application/pdf, shown in the dialog's frame; the
//      HTML link answers a page
//   8. "Corriger": the new edition opens, and a line added to a section shows as a "+" line of
//      the diff against the published one (as GET …/diff has it)
//   9. no page error, no console error, no failed request but the one 412 of check 4 (and the
//      401 of GET /api/me before signing in)
// Screenshots: tests/out/reports-*.png. Exits 1 on the first failed check; a missing Chromium or
// playwright-core is a failure with what to install, never a skip.

import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { baseUrl, fail, launchOrFail, nodeApi, outDir, results, started, watchPage } from './harness.mjs';

const usage =
  "VIGIE_TEST_ADMIN_TOKEN='Bearer …' VIGIE_TEST_EDITOR_A=name:password VIGIE_TEST_EDITOR_B=name:password node tests/browser/reports.mjs http://127.0.0.1:PORT";
const base = baseUrl(usage);
const account = (v) => {
  const [name, password] = (process.env[v] || '').split(/:(.*)/s);
  if (!name || !password) fail(`usage: ${usage}`);
  return { name, password };
};
const editorA = account('VIGIE_TEST_EDITOR_A');
const editorB = account('VIGIE_TEST_EDITOR_B');
const adminToken = process.env.VIGIE_TEST_ADMIN_TOKEN || '';
if (!adminToken.startsWith('Bearer ')) fail(`usage: ${usage}`);

/** A day of the demo log (the opening ceremony), UTC. */
const FROM = '2024-07-26T04:00:00Z';
const TO = '2024-07-27T04:00:00Z';
const PARIS = [2.22, 48.8, 2.47, 48.92];
const MAP_SIZE = [800, 600];
const SECTIONS = [
  { id: 'synthesis', title: 'Synthèse', owner: { role: 'editor' } },
  { id: 'transport', title: 'Transports', owner: { role: 'analyst' } },
  { id: 'health', title: 'Santé', owner: { role: 'analyst' } },
];
const TITLE = `Point de situation — essai ${Date.now()}`;
/** How long a change made in one browser may take to show in the other, ms. */
const LIVE_MS = 5_000;

const admin = nodeApi(base, { Authorization: adminToken });

/** `path` through the admin's token, failing unless `want`: the body. */
async function call(path, opts = {}, want = 200) {
  const r = await admin(path, opts.body ? { ...opts, headers: { 'Content-Type': 'application/json', ...(opts.headers || {}) } } : opts);
  if (r.status !== want) throw new Error(`${opts.method || 'GET'} ${path} answered ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body;
}

/** Fails the check unless `got` deeply equals `want`. */
const expect = (what, got, want) => {
  if (!isDeepStrictEqual(got, want)) throw new Error(`${what}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
};

/** A section of GET /api/reports/{id} as the API has it. */
async function apiSection(id, section) {
  const r = await call(`/api/reports/${id}`);
  const s = r.sections.find((x) => x.id === section);
  return { body: s.body, version: s.version, updated_by: s.updated_by };
}

// ---------------------------------------------------------------- prerequisites

if ((await nodeApi(base)('/api/me')).status !== 401) fail('GET /api/me without credentials is not a 401: start vigie with --require-sign-in');
let reportId = 0;
let compiled = null;
try {
  await call('/api/reports/settings', {
    method: 'PUT',
    body: JSON.stringify({
      classification: 'DIFFUSION RESTREINTE',
      // Ad-hoc reports only: no scheduled draft comes into the list while the checks count it.
      times: [],
      sections: SECTIONS,
      maps: [{ title: 'Paris intra-muros', region: { bbox: PARIS }, width: MAP_SIZE[0], height: MAP_SIZE[1] }],
    }),
  });
  reportId = (await call('/api/reports', { method: 'POST', body: JSON.stringify({ title: TITLE, from: FROM, to: TO }) }, 201)).id;
  compiled = await call(`/api/reports/${reportId}/compiled`);
} catch (e) {
  fail(`preparing the report through the API: ${e.message}`);
}
if (!(compiled.figures.total > 0)) fail(`the report's period has no entry (total ${compiled.figures.total}): start vigie with enough --demo-entries`);

// ---------------------------------------------------------------- browsers

const first = await launchOrFail();
const second = await launchOrFail();
const closeAll = async () => {
  await first.close().catch(() => {});
  await second.close().catch(() => {});
};
const A = await watchPage(first.context, { prefix: 'reports-a-', close: closeAll });
const B = await watchPage(second.context, { prefix: 'reports-b-', close: closeAll });
const check = A.check;
const finish = A.finish;
/** Checks about B's page screenshot it when they fail. */
const checkB = B.check;

/** Opens the page, signs in as `who` in the dialog, waits for the map and the reports' button. */
async function openSignedIn(page, who) {
  await page.goto(`${base}/`);
  await page.waitForFunction(() => document.getElementById('signin')?.open, null, { timeout: 15_000, polling: 50 });
  await page.locator('#signin-name').fill(who.name);
  await page.locator('#signin-password').fill(who.password);
  const answer = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/session');
  await page.locator('#signin-submit').click();
  const r = await answer;
  if (r.status() !== 200) throw new Error(`POST /api/session as ${who.name} answered ${r.status()}`);
  await page.waitForFunction(() => window.vigie?.reports && window.vigieMap?.loaded(), null, { timeout: 30_000, polling: 100 });
  await page.getByRole('button', { name: 'Points de situation' }).waitFor({ timeout: 5_000 });
}

/** Opens the dialog and report `id` from its list. */
async function openReport(page, id) {
  if (!(await page.locator('#reports-dialog').evaluate((d) => d.open))) await page.getByRole('button', { name: 'Points de situation' }).click();
  const row = page.locator(`#reports-rows tr[data-report-id="${id}"]`);
  await row.waitFor({ timeout: 5_000 });
  await row.getByRole('button').click();
  await page.locator('#report-view').waitFor({ state: 'visible', timeout: 5_000 });
  await page.locator('#report-sections textarea').first().waitFor({ timeout: 5_000 });
}

const section = (page, id) => page.locator(`#report-sections [data-section="${id}"]`);
const textarea = (page, id) => section(page, id).locator('textarea');
/** Waits until `fn` (run in the page with `arg`) is true, failing with `what`. */
async function until(page, what, fn, arg, timeout = LIVE_MS) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch {
    throw new Error(`${what} (not within ${timeout / 1000} s)`);
  }
}
/** Clicks a section's "Enregistrer" and waits for the PUT's answer: its status. */
async function saveSection(page, id) {
  const answer = page.waitForResponse((r) => r.request().method() === 'PUT' && new URL(r.url()).pathname === `/api/reports/${reportId}/sections/${id}`);
  await section(page, id).locator(`[data-save="${id}"]`).click();
  return (await answer).status();
}

// ---------------------------------------------------------------- 1. the list

await check('the list shows the report made through the API; search and status filter narrow it', async () => {
  await openSignedIn(A.page, editorA);
  // In English first: the button follows the language.
  await A.page.locator('#lang').click();
  const en = (await A.page.locator('#reports-open').textContent()).trim();
  await A.page.locator('#lang').click();
  expect('the button in English', en, 'Situation reports');
  await A.page.getByRole('button', { name: 'Points de situation' }).click();
  await A.page.locator('#reports-dialog').waitFor({ state: 'visible', timeout: 2_000 });
  const row = A.page.locator(`#reports-rows tr[data-report-id="${reportId}"]`);
  await row.waitFor({ timeout: 5_000 });
  const cells = await row.evaluate((tr) => [...tr.children].map((c) => c.textContent.trim()));
  if (!cells[0].startsWith(TITLE)) throw new Error(`the row's title cell: "${cells[0]}"`);
  // The period in the workspace's local time (Paris, summer: UTC+2).
  expect('the row’s period, status, edition', cells.slice(1), ['26/07/2024 06:00 → 27/07/2024 06:00', 'Brouillon', 'éd. 1']);
  const listed = (await call('/api/reports?limit=100')).reports.length;
  expect('rows listed', await A.page.locator('#reports-rows tr').count(), listed);
  if (await A.page.getByRole('button', { name: 'Nouveau point' }).isHidden()) throw new Error('an editor is not offered "Nouveau point"');
  await A.page.getByLabel('Rechercher', { exact: true }).fill(TITLE.split('— ')[1]);
  await until(A.page, 'the search did not narrow the list to the report', (id) => {
    const rows = document.querySelectorAll('#reports-rows tr');
    return rows.length === 1 && rows[0].dataset.reportId === String(id);
  }, reportId);
  await A.page.getByLabel('Statut', { exact: true }).selectOption('published');
  await until(A.page, 'the status filter "Publié" still lists the draft', () => document.querySelectorAll('#reports-rows tr').length === 0);
  expect('the list’s status line', (await A.page.locator('#reports-status').textContent()).trim(), 'Aucun point ne correspond à la recherche.');
  await A.page.getByLabel('Statut', { exact: true }).selectOption('');
  await A.page.getByLabel('Rechercher', { exact: true }).fill('');
  await until(A.page, 'the whole list did not come back', (n) => document.querySelectorAll('#reports-rows tr').length === n, listed);
  await A.page.screenshot({ path: join(outDir, 'reports-01-list.png') });
  return `report ${reportId} among ${listed}: ${cells.slice(1).join(' | ')}`;
});

// ---------------------------------------------------------------- 2. the report

await check('the report: its sections in order, the compiled figures as GET …/compiled has them, the map', async () => {
  await openReport(A.page, reportId);
  expect('the title', (await A.page.locator('#report-title').textContent()).trim(), TITLE);
  const labels = await A.page.locator('#report-sections textarea').evaluateAll((els) => els.map((el) => el.labels[0]?.textContent.trim()));
  expect('the sections, by their labels', labels, SECTIONS.map((s) => s.title));
  if (!(await A.page.getByRole('textbox', { name: 'Transports', exact: true }).evaluate((el) => el.tagName === 'TEXTAREA' && !el.readOnly))) throw new Error('"Transports" is not a writable textarea for an editor');
  const total = A.page.locator('[data-figure="total"]');
  await total.waitFor({ timeout: 15_000 });
  const shown = { attr: Number(await total.getAttribute('data-total')), text: Number((await total.textContent()).replace(/\D/g, '')) };
  expect('the total shown', shown, { attr: compiled.figures.total, text: compiled.figures.total });
  const themes = await A.page.locator('[data-table="by_theme"] tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.dataset.key, Number(tr.children[1].textContent.replace(/\D/g, '')), new URL(tr.querySelector('a').href).pathname + new URL(tr.querySelector('a').href).search]));
  expect('the theme table (key, count, query)', themes, compiled.figures.by_theme.map((r) => [r.key, r.count, r.query]));
  const totalQuery = await A.page.locator('.report-total a').getAttribute('href');
  expect('the total’s query link', totalQuery, compiled.figures.query);
  for (const t of ['by_severity', 'by_qualification']) {
    expect(`rows of ${t}`, await A.page.locator(`[data-table="${t}"] tbody tr`).count(), compiled.figures[t].length);
  }
  expect('significant events listed', await A.page.locator('.significant-list li').count(), compiled.significant.length);
  const img = A.page.locator('.report-map img');
  await img.scrollIntoViewIfNeeded();
  await until(A.page, 'the map image did not load', () => {
    const i = document.querySelector('.report-map img');
    return i && i.complete && i.naturalWidth > 0;
  }, null, 20_000);
  expect('the map’s size', await img.evaluate((i) => [i.naturalWidth, i.naturalHeight]), MAP_SIZE);
  expect('live or frozen', await A.page.locator('#report-frozen [data-frozen]').textContent(), 'En direct');
  expect('the moves offered', await A.page.locator('#report-moves button').allTextContents(), ['Envoyer en relecture']);
  expect('the marking', (await A.page.locator('.report-marking').textContent()).trim(), 'DIFFUSION RESTREINTE');
  await A.page.screenshot({ path: join(outDir, 'reports-02-editor.png') });
  return `total ${shown.text}, ${themes.length} themes, ${compiled.significant.length} significant events, map ${MAP_SIZE.join('×')}`;
});

// ---------------------------------------------------------------- 3. presence

await checkB(`presence: A in "Synthèse", B’s page shows "${editorA.name} édite" on it`, async () => {
  await openSignedIn(B.page, editorB);
  await openReport(B.page, reportId);
  const t0 = Date.now();
  await textarea(A.page, 'synthesis').focus();
  const badge = section(B.page, 'synthesis').locator(`.presence[data-who="${editorA.name}"]`);
  await badge.waitFor({ timeout: LIVE_MS });
  const ms = Date.now() - t0;
  expect('the badge', (await badge.textContent()).trim(), `${editorA.name} édite`);
  expect('badges on the other sections', await B.page.locator('[data-section="transport"] .presence, [data-section="health"] .presence').count(), 0);
  const api = (await call(`/api/reports/${reportId}`)).presence;
  expect('GET /api/reports/{id} presence', api, [{ who: editorA.name, section: 'synthesis' }]);
  expect('A’s own page shows no badge of A', await A.page.locator(`.presence[data-who="${editorA.name}"]`).count(), 0);
  await B.page.screenshot({ path: join(outDir, 'reports-03-presence.png') });
  return `shown in B's page ${ms} ms after A's focus`;
});

// ---------------------------------------------------------------- 4. a conflict

const TEXT_A = 'Situation calme.\nAffluence forte aux abords du Trocadéro.';
const TEXT_B = 'Nuit sans incident majeur.\nDeux interpellations à Saint-Denis.';

await checkB('same section: B is told of A’s save, B’s save shows both versions, "Garder mon texte" stores B’s as version 2', async () => {
  await textarea(B.page, 'synthesis').fill(TEXT_B);
  await textarea(A.page, 'synthesis').fill(TEXT_A);
  expect('A’s save', await saveSection(A.page, 'synthesis'), 200);
  expect('A’s status line', (await section(A.page, 'synthesis').locator('[role="status"].ok').textContent()).trim(), 'Enregistrée (v1).');
  expect('the API after A', await apiSection(reportId, 'synthesis'), { body: TEXT_A, version: 1, updated_by: editorA.name });
  // B, typing, is told and keeps its text.
  const notice = section(B.page, 'synthesis').locator('.report-notice');
  await until(B.page, 'B’s page does not say that A saved the section', (who) => document.querySelector('[data-section="synthesis"] .report-notice')?.textContent.includes(who), editorA.name);
  expect('B’s notice', (await notice.textContent()).trim(), `Modifiée par ${editorA.name} (v1) — enregistrer vous montrera les deux versions.`);
  expect('B’s text after the notice', await textarea(B.page, 'synthesis').inputValue(), TEXT_B);
  // B saves on version 0: 412, both versions side by side.
  B.expectedFailures.push(`PUT /api/reports/${reportId}/sections/synthesis 412`);
  expect('B’s save', await saveSection(B.page, 'synthesis'), 412);
  const box = section(B.page, 'synthesis').locator('.report-conflict');
  await box.waitFor({ state: 'visible', timeout: 2_000 });
  const sides = await box.evaluate((el) => ['theirs', 'yours'].map((k) => [el.querySelector(`[data-conflict="${k}"] figcaption`).textContent.trim(), el.querySelector(`[data-conflict="${k}"] pre`).textContent]));
  expect('the conflict box', sides, [
    [`Version enregistrée par ${editorA.name} (v1)`, TEXT_A],
    ['Votre texte', TEXT_B],
  ]);
  expect('B’s textarea during the conflict', await textarea(B.page, 'synthesis').inputValue(), TEXT_B);
  if (!(await box.evaluate((el) => el.contains(document.activeElement)))) throw new Error('the focus did not go to the conflict box');
  await B.page.screenshot({ path: join(outDir, 'reports-04-conflict.png') });
  const answer = B.page.waitForResponse((r) => r.request().method() === 'PUT' && new URL(r.url()).pathname === `/api/reports/${reportId}/sections/synthesis`);
  await box.getByRole('button', { name: 'Garder mon texte' }).click();
  expect('"Garder mon texte"', (await answer).status(), 200);
  await box.waitFor({ state: 'hidden', timeout: 2_000 });
  expect('the API after B', await apiSection(reportId, 'synthesis'), { body: TEXT_B, version: 2, updated_by: editorB.name });
  expect('B’s notice after saving', (await notice.textContent()).trim(), '');
  // A's page, not editing any more, takes B's text.
  await until(A.page, 'A’s page did not take B’s text', (text) => document.querySelector('[data-section="synthesis"] textarea')?.value === text, TEXT_B);
  const meta = (await section(A.page, 'synthesis').locator('.report-saved').textContent()).trim();
  if (!meta.startsWith(`Enregistrée par ${editorB.name}, `) || !meta.endsWith('(v2).')) throw new Error(`A's "saved by" line: "${meta}"`);
  return `412 shown with both texts; version 2 by ${editorB.name}; A's page: "${meta}"`;
});

// ---------------------------------------------------------------- 5. two sections at once

await check('two sections saved at once by A and B: both stored, each page shows the other’s', async () => {
  const transport = 'RER B interrompu 40 min à Gare du Nord.';
  const health = 'Deux évacuations sanitaires au Stade de France.';
  await textarea(A.page, 'transport').fill(transport);
  await textarea(B.page, 'health').fill(health);
  const [a, b] = await Promise.all([saveSection(A.page, 'transport'), saveSection(B.page, 'health')]);
  expect('both saves', [a, b], [200, 200]);
  expect('transport in the API', await apiSection(reportId, 'transport'), { body: transport, version: 1, updated_by: editorA.name });
  expect('health in the API', await apiSection(reportId, 'health'), { body: health, version: 1, updated_by: editorB.name });
  await until(A.page, 'A’s page did not take B’s "Santé"', (text) => document.querySelector('[data-section="health"] textarea')?.value === text, health);
  await until(B.page, 'B’s page did not take A’s "Transports"', (text) => document.querySelector('[data-section="transport"] textarea')?.value === text, transport);
  return 'transport by A, health by B, both v1';
});

// ---------------------------------------------------------------- 6. the workflow

await checkB('review, validation, publication by A: B’s page follows live, read-only once validated', async () => {
  const stepTo = async (name, status, confirm = false) => {
    await A.page.locator('#report-moves').getByRole('button', { name, exact: true }).click();
    if (confirm) {
      const box = A.page.locator('#report-confirm');
      await box.waitFor({ state: 'visible', timeout: 2_000 });
      await box.getByRole('button', { name, exact: true }).click();
    }
    for (const [who, w] of [
      ['A', A],
      ['B', B],
    ]) {
      await until(w.page, `${who}’s page does not show "${status}"`, (s) => document.querySelector('#report-meta [data-status]')?.dataset.status === s, status);
    }
  };
  await stepTo('Envoyer en relecture', 'review');
  expect('B’s textareas read-only in review', await B.page.locator('#report-sections textarea').evaluateAll((els) => els.map((el) => el.readOnly)), [false, false, false]);
  expect('B’s badge', (await B.page.locator('#report-meta [data-status]').textContent()).trim(), 'En relecture');
  await stepTo('Valider', 'validated');
  await until(B.page, 'B’s textareas are not read-only once validated', () => [...document.querySelectorAll('#report-sections textarea')].every((el) => el.readOnly));
  expect('B’s save buttons shown', await B.page.locator('#report-sections [data-save]:visible').count(), 0);
  await until(B.page, 'B’s figures are not shown frozen', () => document.querySelector('#report-frozen [data-frozen]')?.dataset.frozen === 'true', null, 15_000);
  await stepTo('Publier', 'published', true);
  expect('B’s badge', (await B.page.locator('#report-meta [data-status]').textContent()).trim(), 'Publié');
  expect('B’s status line', (await B.page.locator('#report-message').textContent()).trim(), `Le point est passé à « Publié » (par ${editorA.name}).`);
  for (const [name, w] of [
    ['A', A],
    ['B', B],
  ]) {
    const ro = await w.page.locator('#report-sections textarea').evaluateAll((els) => els.map((el) => el.readOnly));
    expect(`${name}'s textareas once published`, ro, [true, true, true]);
    expect(`${name}'s moves once published`, await w.page.locator('#report-moves button').count(), 0);
  }
  await A.page.getByRole('button', { name: 'Corriger' }).waitFor({ timeout: 2_000 });
  const r = await call(`/api/reports/${reportId}`);
  // The first step is the admin's, who made the report through the API.
  expect('the API’s history', r.history.slice(1).map((s) => [s.status, s.by]), [
    ['review', editorA.name],
    ['validated', editorA.name],
    ['published', editorA.name],
  ]);
  expect('the API’s first step', r.history[0].status, 'draft');
  await B.page.screenshot({ path: join(outDir, 'reports-05-published.png') });
  return `draft → review → validated → published, followed by B's page; history ${r.history.map((s) => s.by).join(', ')}`;
});

// ---------------------------------------------------------------- 7. PDF and HTML

await check('"Aperçu PDF": 200 application/pdf, shown in the dialog; the HTML link answers a page', async () => {
  const answer = A.page.waitForResponse((r) => new URL(r.url()).pathname === `/api/reports/${reportId}/pdf`);
  await A.page.getByRole('button', { name: 'Aperçu PDF' }).click();
  const r = await answer;
  expect('GET …/pdf', [r.status(), r.headers()['content-type']], [200, 'application/pdf']);
  await A.page.locator('#report-pdf-dialog').waitFor({ state: 'visible', timeout: 2_000 });
  await until(A.page, 'the frame does not show the PDF', () => document.getElementById('report-pdf-frame')?.src.startsWith('blob:'), null, 10_000);
  const src = await A.page.locator('#report-pdf-frame').getAttribute('src');
  // The frame navigates to the blob after its src is set: waited for (a bound, not a target;
  // asked once, it failed under a loaded CI run).
  for (const deadline = Date.now() + 10_000; !A.page.frames().some((f) => f.url() === src); ) {
    if (Date.now() > deadline) throw new Error(`no frame loaded ${src} within 10 s`);
    await A.page.waitForTimeout(100);
  }
  expect('the new-tab link', await A.page.locator('#report-pdf-tab').getAttribute('href'), `/api/reports/${reportId}/pdf`);
  // Playwright does not hand out the body of a response the page read as a blob: the same
  // document, asked from Node.
  const pdf = await fetch(`${base}/api/reports/${reportId}/pdf`, { headers: { Authorization: adminToken } });
  const bytes = Buffer.from(await pdf.arrayBuffer());
  expect('the PDF from Node: status, type, signature', [pdf.status, pdf.headers.get('content-type'), bytes.subarray(0, 5).toString()], [200, 'application/pdf', '%PDF-']);
  await A.page.waitForTimeout(1_500); // the viewer draws the first page
  await A.page.screenshot({ path: join(outDir, 'reports-06-pdf.png') });
  await A.page.locator('#report-pdf-close').click();
  await A.page.locator('#report-pdf-dialog').waitFor({ state: 'hidden', timeout: 2_000 });
  expect('the focus after closing the preview', await A.page.evaluate(() => document.activeElement?.id), 'report-pdf');
  const html = await A.page.locator('#report-html').getAttribute('href');
  expect('the HTML link', html, `/api/reports/${reportId}/html`);
  const page = await admin(html);
  if (page.status !== 200 || !String(page.body).includes(TEXT_B.split('\n')[0])) throw new Error(`GET ${html} answered ${page.status}, without B's text`);
  return `${bytes.length} bytes of PDF; HTML ${String(page.body).length} characters`;
});

// ---------------------------------------------------------------- 8. a correction

await check('"Corriger": the new edition opens; a line added shows in the diff as GET …/diff has it', async () => {
  await A.page.getByRole('button', { name: 'Corriger' }).click();
  await until(A.page, 'the correction did not open', (old) => /éd\. 2/.test(document.getElementById('report-meta')?.textContent || '') && document.getElementById('report-meta').textContent.includes(`corrige le point n° ${old}`), reportId);
  const fixId = (await call(`/api/reports?limit=100`)).reports.find((r) => r.supersedes === reportId)?.id;
  if (!fixId) throw new Error(`the API has no report superseding ${reportId}`);
  const added = 'Ajout après publication : une interpellation de plus.';
  const synthesis = textarea(A.page, 'synthesis');
  expect('the correction’s text, copied', await synthesis.inputValue(), TEXT_B);
  await synthesis.fill(`${TEXT_B}\n${added}`);
  const answer = A.page.waitForResponse((r) => r.request().method() === 'PUT' && new URL(r.url()).pathname === `/api/reports/${fixId}/sections/synthesis`);
  await section(A.page, 'synthesis').locator('[data-save="synthesis"]').click();
  expect('the save of the correction', (await answer).status(), 200);
  await until(A.page, 'the diff does not show the added line', (text) => [...document.querySelectorAll('#report-diff [data-op="+"]')].some((li) => li.textContent.includes(text)), added);
  const diff = await call(`/api/reports/${fixId}/diff`);
  expect('GET …/diff against', diff.against, reportId);
  const shown = await A.page.locator('#report-diff .diff-lines li').evaluateAll((lis) => lis.map((li) => [li.dataset.op, li.lastElementChild.textContent]));
  expect('the diff’s lines', shown, diff.sections.flatMap(([, lines]) => lines.map((l) => [l.op, l.text])));
  await A.page.screenshot({ path: join(outDir, 'reports-07-correction.png') });
  return `report ${fixId} (edition 2): ${shown.length} diff lines`;
});

// ---------------------------------------------------------------- 9. no errors

await check('no page error, no console error, no failed request but the 412', async () => {
  for (const [name, w] of [
    ['A', A],
    ['B', B],
  ]) {
    if (w.pageErrors.length) throw new Error(`${name} page errors: ${w.pageErrors.join(' | ')}`);
    if (w.consoleErrors.length) throw new Error(`${name} console errors: ${w.consoleErrors.join(' | ')}`);
    // The page's first GET /api/me, before signing in, is a 401 by design.
    const bad = w.badResponses.filter((k) => k !== 'GET /api/me 401');
    if (bad.length) throw new Error(`${name} failed requests: ${bad.join(', ')}`);
  }
  if (B.expectedFailures.length) throw new Error(`the conflict never came: ${B.expectedFailures.join(', ')}`);
  return 'clean';
});

await finish(0);
console.log(`\nreports browser tests: ${results.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`screenshots: ${outDir}/reports-*.png`);
