// What every browser scenario (run.mjs, signin.mjs, sso.mjs, workspace.mjs) shares: where its
// screenshots go, how a check passes or fails the run, and the vigie address it is given.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
