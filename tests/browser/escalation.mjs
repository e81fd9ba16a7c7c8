#!/usr/bin/env node
// Escalation between workspaces in the entry popup (issue 15), in a real browser: Debian's
// Chromium driven by playwright-core, two browsers side by side — a contributor of the
// prefecture `pp` on /w/pp/ and an editor of the national room `default` on / — against a vigie
// started by tests/e2e/browser.rs with `--require-sign-in`, after `vigie workspace add pp
// --parent default` and both accounts (with an API token each) made with the CLI.
//
//   VIGIE_TEST_PP=paul:PASSWORD VIGIE_TEST_PP_TOKEN='Bearer …' \
//   VIGIE_TEST_NATIONAL=cheffe:PASSWORD VIGIE_TEST_NATIONAL_TOKEN='Bearer …' \
//     node tests/browser/escalation.mjs http://127.0.0.1:8080
//
// Checks, each failing with a message that says what went wrong:
//   1. the workspace tree as the API gives it: pp's parent is default, default's child is pp
//   2. the contributor's own entry (made through the API with their session): its popup offers
//      "Faire remonter à default", editing and a comment form; neither qualification (a
//      contributor's role) nor sending down (pp has no child) nor a copy banner
//   3. "Faire remonter à default": the popup says "Remontée à default (entrée N)" with
//      "Annuler la remontée", and the national API has entry N, a copy following pp's entry
//   4. the copy's popup in the national room: the banner "Copie de l'entrée … de pp — la suit ;
//      qualification de l'origine : Brut" (and in English), qualification offered, editing and
//      deleting not, no escalation nor sending it back down to pp
//   5. the national editor qualifies the copy and comments on it in the popup: shown there, in
//      the national API, and pp's entry left as it was (version, qualification, no comment)
//   6. "Annuler la remontée": the copy is deleted in default (API), the national popup follows
//      (the entry is gone), and the prefecture's popup offers escalation again
//   7. a refused escalation (409: the API escalated it meanwhile) shows the server's reason and
//      the popup catches up with the copy that exists
//   8. sending down from the national room: a national entry (editable there, unlike the copy)
//      is sent to the checked child, listed "Envoyée à pp (entrée K)"; in pp the copy shows its
//      banner and offers no escalation back; "Rappeler" deletes it in pp
//   9. each page asked GET /api/workspace once; no page error, no console error, no failed
//      request but the one 409 check 7 provokes (and the 401 of GET /api/me before signing in)
// Screenshots: tests/out/escalation-*.png. Exits 1 on the first failed check; a missing Chromium
// or playwright-core is a failure with what to install, never a skip.

import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { baseUrl, fail, launchOrFail, nodeApi, outDir, results, started, watchPage } from './harness.mjs';

const usage =
  "VIGIE_TEST_PP=name:password VIGIE_TEST_PP_TOKEN='Bearer …' VIGIE_TEST_NATIONAL=name:password VIGIE_TEST_NATIONAL_TOKEN='Bearer …' node tests/browser/escalation.mjs http://127.0.0.1:PORT";
const base = baseUrl(usage);
const account = (v) => {
  const [name, password] = (process.env[v] || '').split(/:(.*)/s);
  if (!name || !password) fail(`usage: ${usage}`);
  return { name, password };
};
const officer = account('VIGIE_TEST_PP');
const cheffe = account('VIGIE_TEST_NATIONAL');
const ppToken = process.env.VIGIE_TEST_PP_TOKEN || '';
const nationalToken = process.env.VIGIE_TEST_NATIONAL_TOKEN || '';
if (!ppToken.startsWith('Bearer ') || !nationalToken.startsWith('Bearer ')) fail(`usage: ${usage}`);

const SESSION_COOKIE = 'vigie_session';
/** Where the entries are: Saint-Denis. */
const PLACE = { lon: 2.3574, lat: 48.9245 };
const COMMENT = 'CRS 4 engagée';

const ppApi = nodeApi(base, { Authorization: ppToken });
const nationalApi = nodeApi(base, { Authorization: nationalToken });

/** GET `path` through `api`, failing unless 200: the body. */
async function get(api, path) {
  const r = await api(path);
  if (r.status !== 200) throw new Error(`GET ${path} answered ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

// ---------------------------------------------------------------- prerequisites

if ((await nodeApi(base)('/api/me')).status !== 401) fail('GET /api/me without credentials is not a 401: start vigie with --require-sign-in');
const catalog = await ppApi('/w/pp/catalog');
const tag = catalog.body?.themes?.find((th) => th.entry_tag)?.id;
if (!tag) fail(`pp's catalog has no theme to file an entry under: ${catalog.status} ${JSON.stringify(catalog.body).slice(0, 300)}`);

// ---------------------------------------------------------------- browsers

const prefecture = await launchOrFail();
const room = await launchOrFail();
const closeAll = async () => {
  await prefecture.close().catch(() => {});
  await room.close().catch(() => {});
};
const A = await watchPage(prefecture.context, { prefix: 'escalation-pp-', close: closeAll });
const B = await watchPage(room.context, { prefix: 'escalation-national-', close: closeAll });
const check = A.check;
const finish = A.finish;
/** Checks run on the national page screenshot it when they fail. */
const checkRoom = B.check;

/** How many times each page asked GET …/api/workspace. */
const treeAsks = { A: 0, B: 0 };
A.page.on('request', (r) => (new URL(r.url()).pathname === '/w/pp/api/workspace' ? (treeAsks.A += 1) : null));
B.page.on('request', (r) => (new URL(r.url()).pathname === '/api/workspace' ? (treeAsks.B += 1) : null));

/** Opens `path`, signs in as `who` in the dialog, waits for the map and the popups. */
async function openSignedIn(page, path, who) {
  await page.goto(`${base}${path}`);
  await page.waitForFunction(() => document.getElementById('signin')?.open, null, { timeout: 15_000, polling: 50 });
  await page.locator('#signin-name').fill(who.name);
  await page.locator('#signin-password').fill(who.password);
  const answer = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname.endsWith('/api/session'));
  await page.locator('#signin-submit').click();
  const r = await answer;
  if (r.status() !== 200) throw new Error(`POST ${new URL(r.url()).pathname} as ${who.name} answered ${r.status()}`);
  await page.waitForFunction(() => window.vigie?.popups && window.vigieMap?.loaded(), null, { timeout: 30_000, polling: 100 });
}

/** Opens entry `id`'s popup (as the entry list does) and waits for its details: the popup. */
async function openPopup(page, id) {
  await page.evaluate((id) => window.vigie.openEntry(id), id);
  const popup = page.locator(`.maplibregl-popup .popup[data-entry-id="${id}"]`);
  // `.body` comes with the full entry (empty, and so hidden, for an entry without a text).
  await popup.locator('.body').waitFor({ state: 'attached', timeout: 5_000 });
  return popup;
}

/** The popup's status line once it says something: `{text, err}`. */
async function statusOf(popup) {
  const msg = popup.locator('.msg');
  await msg.waitFor({ timeout: 5_000 });
  return { text: (await msg.textContent()).trim(), err: await msg.evaluate((el) => el.classList.contains('err')) };
}

/** Counts of the popup's controls, by what they do. */
const controls = (popup) =>
  popup.evaluate((el) => {
    const n = (sel) => el.querySelectorAll(sel).length;
    return {
      escalate: n('[data-escalate]'),
      escalated: n('[data-escalated]'),
      withdraw: n('[data-withdraw]'),
      send: n('[data-send]'),
      sent: n('[data-sent]'),
      edit: n('[data-edit="fields"]'),
      del: n('[data-edit="delete"]'),
      qualify: n('[data-action]'),
      banner: n('.copy-banner'),
      commentForm: n('[data-comment-form]'),
    };
  });

/** Fails the check unless `got` deeply equals `want`. */
const expect = (what, got, want) => {
  if (!isDeepStrictEqual(got, want)) throw new Error(`${what}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
};

// ---------------------------------------------------------------- 1. the tree

let entryId = 0;
let copyId = 0;

await check('the tree: pp escalates to default, default sends down to pp', async () => {
  const pp = await get(ppApi, '/w/pp/api/workspace');
  const top = await get(nationalApi, '/api/workspace');
  expect('pp', pp, { id: 'pp', parent: 'default', children: [] });
  expect('default', { parent: top.parent, children: top.children }, { parent: null, children: ['pp'] });
  return `pp → ${pp.parent}; default ⇢ ${top.children.join(', ')}`;
});

// ---------------------------------------------------------------- 2. the origin's popup

await check(`${officer.name}'s entry in pp: the popup offers escalation to default, editing, a comment form`, async () => {
  await openSignedIn(A.page, '/w/pp/', officer);
  // Made through the API with the contributor's session (not their token, whose entries are
  // `token:…`'s): the entry is theirs, so the popup may offer to edit it.
  const cookie = (await prefecture.context.cookies(base)).find((c) => c.name === SESSION_COOKIE)?.value;
  const csrf = await A.page.evaluate(() => window.vigie.me.csrf);
  if (!cookie || !csrf) throw new Error(`no session cookie (${cookie}) or CSRF token (${csrf}) after signing in`);
  const mine = nodeApi(base, { Cookie: `${SESSION_COOKIE}=${cookie}`, 'X-CSRF-Token': csrf });
  const title = `Rixe devant la gare ${Date.now()}`;
  const made = await mine('/w/pp/api/entries', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ title, severity: 3, tags: [tag], body: 'Une vingtaine de personnes.', ...PLACE }),
  });
  if (made.status !== 201) throw new Error(`POST /w/pp/api/entries answered ${made.status} ${JSON.stringify(made.body)}`);
  entryId = made.body.id;
  expect('the entry’s author', made.body.author, officer.name);
  const popup = await openPopup(A.page, entryId);
  await popup.getByRole('button', { name: 'Faire remonter à default' }).waitFor({ timeout: 5_000 });
  const c = await controls(popup);
  expect('controls of the origin', c, { escalate: 1, escalated: 0, withdraw: 0, send: 0, sent: 0, edit: 1, del: 1, qualify: 0, banner: 0, commentForm: 1 });
  if (!(await popup.locator('[data-needs-role]').count())) throw new Error('the popup does not say that qualifying needs the analyst role');
  await A.page.screenshot({ path: join(outDir, 'escalation-01-origin.png') });
  return `entry ${entryId} by ${made.body.author}: ${JSON.stringify(c)}`;
});

// ---------------------------------------------------------------- 3. escalate

await check('"Faire remonter à default": the popup says where the copy is, and default has it', async () => {
  const popup = A.page.locator(`.maplibregl-popup .popup[data-entry-id="${entryId}"]`);
  await popup.getByRole('button', { name: 'Faire remonter à default' }).click();
  const line = popup.locator('[data-escalated="default"]');
  await line.waitFor({ timeout: 5_000 });
  const text = (await line.locator('span').textContent()).trim();
  const m = /^Remontée à default \(entrée (\d+)\)$/.exec(text);
  if (!m) throw new Error(`the popup says "${text}"`);
  copyId = Number(m[1]);
  const status = await statusOf(popup);
  expect('the status line', status, { text: 'Entrée remontée à default.', err: false });
  const c = await controls(popup);
  expect('after escalating: escalate, escalated, withdraw', [c.escalate, c.escalated, c.withdraw], [0, 1, 1]);
  await popup.getByRole('button', { name: 'Annuler la remontée à default' }).waitFor({ timeout: 1_000 });
  // The API agrees, on both sides.
  const origin = await get(ppApi, `/w/pp/api/entries/${entryId}`);
  expect('the origin’s copies', origin.copies.map((l) => [l.direction, l.target.workspace, l.target.entry, l.created_by]), [['up', 'default', copyId, officer.name]]);
  const copy = await get(nationalApi, `/api/entries/${copyId}`);
  expect('the copy', [copy.deleted, copy.title, copy.source, copy.copy_of?.source?.workspace, copy.copy_of?.source?.entry], [false, origin.title, `escalated from pp (entry ${entryId})`, 'pp', entryId]);
  await A.page.screenshot({ path: join(outDir, 'escalation-02-escalated.png') });
  return `"${text}"; GET /api/entries/${copyId} in default: "${copy.source}"`;
});

// ---------------------------------------------------------------- 4. the copy's popup

await checkRoom('the copy in the national room: banner, qualification offered, editing not', async () => {
  await openSignedIn(B.page, '/', cheffe);
  const popup = await openPopup(B.page, copyId);
  const banner = popup.locator('.copy-banner');
  await banner.waitFor({ timeout: 5_000 });
  expect('the banner', (await banner.locator('p').first().textContent()).trim(), `Copie de l’entrée ${entryId} de pp — la suit ; qualification de l’origine : Brut`);
  expect('the banner’s note', (await banner.locator('.note').textContent()).trim(), 'Elle se modifie dans pp ; ici, on la qualifie et on la commente.');
  await popup.getByRole('button', { name: 'Mettre en examen' }).waitFor({ timeout: 1_000 });
  const c = await controls(popup);
  expect('controls of the copy', c, { escalate: 0, escalated: 0, withdraw: 0, send: 0, sent: 0, edit: 0, del: 0, qualify: 1, banner: 1, commentForm: 1 });
  if (await popup.getByRole('button', { name: 'Modifier' }).count()) throw new Error('a "Modifier" button on the copy');
  if (await popup.locator('input[name="title"]').count()) throw new Error('a title field on the copy');
  // In English too.
  await B.page.locator('#lang').click();
  const en = (await banner.locator('p').first().textContent()).trim();
  await B.page.locator('#lang').click();
  expect('the banner in English', en, `Copy of entry ${entryId} of pp — follows it; origin’s qualification: Raw`);
  await B.page.screenshot({ path: join(outDir, 'escalation-03-copy.png') });
  return `"${en}"; ${JSON.stringify(c)}`;
});

// ---------------------------------------------------------------- 5. qualify and comment

await checkRoom('the national room qualifies and comments on the copy; pp’s entry is untouched', async () => {
  const popup = B.page.locator(`.maplibregl-popup .popup[data-entry-id="${copyId}"]`);
  await popup.getByRole('button', { name: 'Mettre en examen' }).click();
  await popup.locator('dd', { hasText: 'En examen' }).waitFor({ timeout: 5_000 });
  expect('the banner after qualifying', (await popup.locator('.copy-banner p').first().textContent()).trim(), `Copie de l’entrée ${entryId} de pp — la suit ; qualification de l’origine : Brut`);
  await popup.getByLabel('Ajouter un commentaire').fill(COMMENT);
  await popup.getByRole('button', { name: 'Commenter' }).click();
  const item = popup.locator('.comments li[data-comment]');
  await item.waitFor({ timeout: 5_000 });
  expect('the comment shown', (await item.locator('.comment-body').textContent()).trim(), COMMENT);
  if (!(await item.locator('.comment-meta').textContent()).startsWith(`${cheffe.name} · `)) throw new Error(`the comment's author line: ${await item.locator('.comment-meta').textContent()}`);
  expect('the comments’ title', (await popup.locator('.comments .legend-title').textContent()).trim(), 'Commentaires (1)');
  expect('the comment field after sending', await popup.getByLabel('Ajouter un commentaire').inputValue(), '');
  expect('the status line', await statusOf(popup), { text: 'Commentaire ajouté.', err: false });
  const copy = await get(nationalApi, `/api/entries/${copyId}`);
  expect('the copy in the API', [copy.qualification, copy.comments.map((x) => [x.author, x.body])], ['in_review', [[cheffe.name, COMMENT]]]);
  const origin = await get(ppApi, `/w/pp/api/entries/${entryId}`);
  expect('pp’s entry', [origin.version, origin.qualification, origin.comments], [1, 'raw', []]);
  await B.page.screenshot({ path: join(outDir, 'escalation-04-commented.png') });
  return `copy in_review with 1 comment; origin v${origin.version} ${origin.qualification}, no comment`;
});

// ---------------------------------------------------------------- 6. de-escalate

await check('"Annuler la remontée": the copy is deleted in default and both popups follow', async () => {
  const popup = A.page.locator(`.maplibregl-popup .popup[data-entry-id="${entryId}"]`);
  await popup.getByRole('button', { name: 'Annuler la remontée à default' }).click();
  await popup.locator('[data-escalate="default"]').waitFor({ timeout: 5_000 });
  expect('the status line', await statusOf(popup), { text: 'Remontée annulée : la copie est supprimée de default.', err: false });
  const c = await controls(popup);
  expect('after de-escalating: escalate, escalated, withdraw', [c.escalate, c.escalated, c.withdraw], [1, 0, 0]);
  const copy = await get(nationalApi, `/api/entries/${copyId}`);
  expect('the copy in default is deleted', copy.deleted, true);
  const list = await get(nationalApi, `/api/entries?q=${encodeURIComponent(copy.title)}&qualification=all`);
  if (list.entries.some((e) => e.id === copyId)) throw new Error(`default's log still lists entry ${copyId}`);
  expect('the origin’s copies', (await get(ppApi, `/w/pp/api/entries/${entryId}`)).copies, []);
  // The national page hears of it on its event stream: the copy's popup says it is gone.
  const room = B.page.locator(`.maplibregl-popup .popup[data-entry-id="${copyId}"]`);
  await room.locator('.msg.err', { hasText: 'Cette entrée a été supprimée.' }).waitFor({ timeout: 5_000 });
  if (await room.locator('.copy-banner, [data-action], [data-comment-form]').count()) throw new Error('the deleted copy’s popup still offers actions');
  await A.page.screenshot({ path: join(outDir, 'escalation-05-deescalated.png') });
  return `entry ${copyId} deleted in default; the national popup says so`;
});

// ---------------------------------------------------------------- 7. a refused escalation

await check('a refused escalation shows the server’s reason; the popup catches up', async () => {
  // Escalated meanwhile through the API: the page, not told, still offers it.
  const r = await ppApi(`/w/pp/api/entries/${entryId}/escalate`, { method: 'POST' });
  if (r.status !== 201) throw new Error(`POST /w/pp/api/entries/${entryId}/escalate answered ${r.status} ${JSON.stringify(r.body)}`);
  const again = r.body.target.entry;
  const popup = A.page.locator(`.maplibregl-popup .popup[data-entry-id="${entryId}"]`);
  A.expectedFailures.push(`POST /w/pp/api/entries/${entryId}/escalate 409`);
  await popup.getByRole('button', { name: 'Faire remonter à default' }).click();
  await popup.locator('[data-escalated="default"]').waitFor({ timeout: 5_000 });
  const status = await statusOf(popup);
  if (!status.err || !status.text.startsWith('Échec : ') || !status.text.includes(`already in 'default' (entry ${again} there)`)) throw new Error(`the status line: ${JSON.stringify(status)}`);
  expect('the line', (await popup.locator('[data-escalated="default"] span').textContent()).trim(), `Remontée à default (entrée ${again})`);
  return status.text;
});

// ---------------------------------------------------------------- 8. send down and recall

await checkRoom('sending down from the national room: the copy in pp, its popup there, recalled', async () => {
  const made = await nationalApi('/api/entries', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ title: `Alerte : colis suspect ${Date.now()}`, severity: 4, tags: [tag], ...PLACE }),
  });
  if (made.status !== 201) throw new Error(`POST /api/entries answered ${made.status} ${JSON.stringify(made.body)}`);
  const alert = made.body.id;
  const popup = await openPopup(B.page, alert);
  await popup.locator('[data-send]').waitFor({ timeout: 5_000 });
  const before = await controls(popup);
  // The same editor edits a national entry: only the copy was closed to it.
  expect('controls of a national entry', before, { escalate: 0, escalated: 0, withdraw: 0, send: 1, sent: 0, edit: 1, del: 1, qualify: 1, banner: 0, commentForm: 1 });
  await popup.getByRole('button', { name: 'Envoyer aux espaces rattachés…' }).click();
  const submit = popup.locator('[data-send-form] button[type="submit"]');
  if (!(await submit.isDisabled())) throw new Error('"Envoyer" is enabled with no workspace checked');
  await popup.getByRole('checkbox', { name: 'pp' }).check();
  if (await submit.isDisabled()) throw new Error('"Envoyer" is still disabled with pp checked');
  await submit.click();
  const line = popup.locator('[data-sent="pp"]');
  await line.waitFor({ timeout: 5_000 });
  const m = /^Envoyée à pp \(entrée (\d+)\)$/.exec((await line.locator('span').textContent()).trim());
  if (!m) throw new Error(`the popup says "${await line.textContent()}"`);
  const child = Number(m[1]);
  expect('the status line', await statusOf(popup), { text: 'Copie envoyée à pp.', err: false });
  if (await popup.locator('[data-send]').count()) throw new Error('"Envoyer aux espaces rattachés…" is still offered with every child served');
  const copy = await get(ppApi, `/w/pp/api/entries/${child}`);
  expect('the copy in pp', [copy.deleted, copy.source, copy.copy_of?.direction], [false, `sent by default (entry ${alert})`, 'down']);
  // In pp: the banner, and no way back up as a copy of the copy, nor editing.
  const there = await openPopup(A.page, child);
  await there.locator('.copy-banner').waitFor({ timeout: 5_000 });
  expect('the banner in pp', (await there.locator('.copy-banner p').first().textContent()).trim(), `Copie de l’entrée ${alert} de default — la suit ; qualification de l’origine : Brut`);
  const c = await controls(there);
  expect('controls of the copy in pp', c, { escalate: 0, escalated: 0, withdraw: 0, send: 0, sent: 0, edit: 0, del: 0, qualify: 0, banner: 1, commentForm: 1 });
  await A.page.screenshot({ path: join(outDir, 'escalation-06-sent-down.png') });
  // Recalled.
  await popup.getByRole('button', { name: 'Rappeler la copie envoyée à pp' }).click();
  await popup.locator('[data-send]').waitFor({ timeout: 5_000 });
  expect('the status line', await statusOf(popup), { text: 'Copie rappelée : elle est supprimée de pp.', err: false });
  expect('the copy in pp after the recall', (await get(ppApi, `/w/pp/api/entries/${child}`)).deleted, true);
  await there.locator('.msg.err', { hasText: 'Cette entrée a été supprimée.' }).waitFor({ timeout: 5_000 });
  await B.page.screenshot({ path: join(outDir, 'escalation-07-recalled.png') });
  return `entry ${alert} sent to pp as ${child}, recalled`;
});

// ---------------------------------------------------------------- 9. once, and no errors

await check('each page asked for the workspace tree once; no error, no failed request but the 409', async () => {
  expect('GET /api/workspace per page', treeAsks, { A: 1, B: 1 });
  for (const [name, w] of [
    ['pp', A],
    ['national', B],
  ]) {
    if (w.pageErrors.length) throw new Error(`${name} page errors: ${w.pageErrors.join(' | ')}`);
    if (w.consoleErrors.length) throw new Error(`${name} console errors: ${w.consoleErrors.join(' | ')}`);
    // The page's first GET /api/me, before signing in, is a 401 by design.
    const bad = w.badResponses.filter((k) => !/^GET (\/w\/pp)?\/api\/me 401$/.test(k));
    if (bad.length) throw new Error(`${name} failed requests: ${bad.join(', ')}`);
  }
  if (A.expectedFailures.length) throw new Error(`the refused escalation never came: ${A.expectedFailures.join(', ')}`);
  return `${treeAsks.A} + ${treeAsks.B} asks`;
});

await finish(0);
console.log(`\nescalation browser tests: ${results.length} checks passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`screenshots: ${outDir}/escalation-*.png`);
