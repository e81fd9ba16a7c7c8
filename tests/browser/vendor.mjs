// Copies the MapLibre GL JS files the web page needs from node_modules (the version pinned by
// package-lock.json) into web/vendor/, where build.rs embeds them into the `vigie` binary.
// The copies are committed, so `cargo run` works from a fresh clone without npm; run.mjs
// checks they are byte-identical to node_modules so they cannot drift from the lock file.
//
//   npm run vendor          copy
//   node tests/browser/vendor.mjs --check   exit 1 if web/vendor differs from node_modules

import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The vendored files: the CSP build (worker loaded from 'self', no blob: needed), its
 * worker, the stylesheet and the licence. Source maps are left out (large, and only
 * developer tools ask for them). */
export const VENDORED = [
  ['node_modules/maplibre-gl/dist/maplibre-gl-csp.js', 'web/vendor/maplibre-gl/maplibre-gl-csp.js'],
  ['node_modules/maplibre-gl/dist/maplibre-gl-csp-worker.js', 'web/vendor/maplibre-gl/maplibre-gl-csp-worker.js'],
  ['node_modules/maplibre-gl/dist/maplibre-gl.css', 'web/vendor/maplibre-gl/maplibre-gl.css'],
  ['node_modules/maplibre-gl/LICENSE.txt', 'web/vendor/maplibre-gl/LICENSE.txt'],
];

/** Lists the vendored files that differ from node_modules (empty when all match). */
export function vendorDrift() {
  const drift = [];
  for (const [from, to] of VENDORED) {
    const src = join(root, from);
    const dst = join(root, to);
    if (!existsSync(src)) {
      drift.push(`${from} is missing: run \`npm ci\` at the repository root`);
    } else if (!existsSync(dst)) {
      drift.push(`${to} is missing: run \`npm run vendor\``);
    } else if (!readFileSync(src).equals(readFileSync(dst))) {
      drift.push(`${to} differs from ${from}: run \`npm run vendor\` and commit web/vendor`);
    }
  }
  return drift;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--check')) {
    const drift = vendorDrift();
    for (const d of drift) console.error(d);
    process.exit(drift.length ? 1 : 0);
  }
  const version = JSON.parse(readFileSync(join(root, 'node_modules/maplibre-gl/package.json'), 'utf8')).version;
  for (const [from, to] of VENDORED) {
    mkdirSync(dirname(join(root, to)), { recursive: true });
    writeFileSync(join(root, to), readFileSync(join(root, from)));
    console.log(`${from} -> ${to}`);
  }
  writeFileSync(
    join(root, 'web/vendor/maplibre-gl/VERSION'),
    `maplibre-gl ${version} (copied from node_modules by \`npm run vendor\`; do not edit)\n`,
  );
}
