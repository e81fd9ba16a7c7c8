// What every browser scenario (run.mjs, signin.mjs, sso.mjs, workspace.mjs, catalog.mjs,
// settings.mjs, territory.mjs, escalation.mjs, reports.mjs) shares: where its screenshots go,
// how a check passes or fails the run, the vigie address it is given, and how a page is watched
// for errors.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch } from './chromium.mjs';

/** The repository root. */
export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Screenshots: tests/out/ (made here). */
export const outDir = join(root, 'tests', 'out');
mkdirSync(outDir, { recursive: true });
/** When the scenario started, ms. */
export const started = Date.now();
/** Names of the checks that passed. */
export const results = [];

/** Ends the run: exit 1 with what failed. */
export function fail(msg) {
  console.error(`\nFAIL: ${msg}`);
  process.exit(1);
}

/** Records a passed check. */
export function pass(name, detail = '') {
  results.push(name);
  console.log(`ok   ${name}${detail ? ` — ${detail}` : ''}`);
}

/** The vigie base URL (first argument, or VIGIE_URL), without a trailing slash; else fails with `usage`. */
export function baseUrl(usage) {
  const base = (process.argv[2] || process.env.VIGIE_URL || '').replace(/\/$/, '');
  if (!/^https?:\/\//.test(base)) fail(`usage: ${usage}`);
  return base;
}

/** Launches Chromium (chromium.mjs) or fails the run with why: `{context, close}`. */
export async function launchOrFail() {
  try {
    return await launch();
  } catch (e) {
    return fail(e.message);
  }
}

/**
 * The check runner of a scenario. `check(name, fn)` runs `fn`: its result is the detail of a
 * passed check; a throw screenshots the page (`tests/out/failed-<prefix><name>.png`), closes the
 * browser and fails the run with the error, the page's address and `errors()` (page and console
 * errors the scenario gathered). `finish(code, msg)` closes the browser, failing when `code`.
 */
export function checker({ prefix, page, close, errors = () => '' }) {
  async function finish(code, msg) {
    try {
      await close();
    } catch {
      /* already gone */
    }
    if (code) fail(msg);
  }
  async function check(name, fn) {
    const t0 = Date.now();
    try {
      const detail = await fn();
      pass(`${name} [${((Date.now() - t0) / 1000).toFixed(1)} s]`, detail);
    } catch (e) {
      const shot = join(outDir, `failed-${prefix}${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.png`);
      let at = '';
      try {
        at = `\n  at ${page().url()}`;
        await page().screenshot({ path: shot });
      } catch {
        /* no page */
      }
      await finish(1, `${name}: ${e.message}${errors()}${at}\n  screenshot: ${shot}`);
    }
  }
  return { check, finish };
}

/**
 * Opens the page of a scenario and watches it for errors, with its `checker` (`prefix`, `close`)
 * reporting them. Every failed response of `context` (status 400 and up), as
 * "METHOD path status", goes to `badResponses`, but POST /api/query 404 (the region tool's probe
 * on a server without it) and the ones in `expectedFailures` (failures a check provokes on
 * purpose: pushed there, each allowed once and taken off when it comes); the page's uncaught
 * errors go to `pageErrors`, its console errors (but "Failed to load resource", which the failed
 * responses cover) to `consoleErrors`. A failed check gives the page errors, the last five
 * console errors and the last five failed requests. Returns
 * `{page, check, finish, expectedFailures, badResponses, pageErrors, consoleErrors}`.
 */
export async function watchPage(context, { prefix, close }) {
  const expectedFailures = [];
  const badResponses = [];
  const pageErrors = [];
  const consoleErrors = [];
  context.on('response', (r) => {
    if (r.status() < 400) return;
    const u = new URL(r.url());
    const key = `${r.request().method()} ${decodeURIComponent(u.pathname)} ${r.status()}`;
    if (key === 'POST /api/query 404') return; // the region tool's probe on a server without it
    const i = expectedFailures.indexOf(key);
    if (i >= 0) expectedFailures.splice(i, 1);
    else badResponses.push(key);
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) consoleErrors.push(m.text());
  });
  const { check, finish } = checker({
    prefix,
    page: () => page,
    close,
    errors: () =>
      (pageErrors.length ? `\n  page errors: ${pageErrors.join(' | ')}` : '') +
      (consoleErrors.length ? `\n  console errors: ${consoleErrors.slice(-5).join(' | ')}` : '') +
      (badResponses.length ? `\n  failed requests: ${badResponses.slice(-5).join(', ')}` : ''),
  });
  return { page, check, finish, expectedFailures, badResponses, pageErrors, consoleErrors };
}

/**
 * The end-of-scenario check: every request (`requests`, URLs) went to `origin` (data: and blob:
 * URLs aside), none failed, and the page logged no error. Throws what went wrong; returns the
 * check's summary.
 */
export function sameOriginAndClean({ requests, origin, badResponses, pageErrors, consoleErrors }) {
  const foreign = requests.filter((u) => !/^(data|blob):/.test(u) && new URL(u).origin !== origin);
  if (foreign.length) throw new Error(`requests to other origins: ${[...new Set(foreign)].slice(0, 10).join(', ')}`);
  if (badResponses.length) throw new Error(`failed requests: ${badResponses.slice(0, 10).join(', ')}`);
  if (pageErrors.length) throw new Error(`uncaught page errors: ${pageErrors.join(' | ')}`);
  if (consoleErrors.length) throw new Error(`console errors: ${consoleErrors.slice(0, 5).join(' | ')}`);
  return `${requests.length} requests, all to ${origin}`;
}

/**
 * Requests from Node to the server at `base`: `api(path, opts)` answers `{status, headers, body}`
 * (the body parsed as JSON when it is). `headers` are sent with every request unless `opts`
 * overrides them.
 */
export function nodeApi(base, headers = {}) {
  return async (path, opts = {}) => {
    const r = await fetch(base + path, { ...opts, headers: { ...headers, ...(opts.headers || {}) } });
    const text = await r.text();
    let body = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON */
    }
    return { status: r.status, headers: r.headers, body };
  };
}

/** Fails unless the server's anonymous identity is the loopback demo's admin. */
export async function requireDemoAdmin(api) {
  const me = await api('/api/me');
  if (me.status !== 200 || me.body?.role !== 'admin' || !me.body?.can?.admin) {
    fail(`GET /api/me answered ${me.status} ${JSON.stringify(me.body)}: start vigie with --demo on a loopback address (the demo identity is admin there)`);
  }
  return me;
}
