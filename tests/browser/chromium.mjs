// Launching Debian's Chromium through playwright-core, shared by the browser tests and the
// first-features measurement. A missing browser or library is an error saying what to install.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

/** Flags that make headless Chromium render WebGL here and stay off the network. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  // WebGL through SwiftShader. `--use-gl=swiftshader` would turn WebGL off instead: MapLibre
  // then fails silently and every wait times out.
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Path of Chromium: $VIGIE_CHROMIUM, /usr/bin/chromium, or whatever `chromium` is on PATH. */
export function findChromium() {
  for (const c of [process.env.VIGIE_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean)) {
    if (existsSync(c)) return c;
  }
  try {
    return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/**
 * A fresh persistent context (its own profile folder, removed by `close`). Playwright refuses
 * `--user-data-dir` among the args: the profile is launchPersistentContext's first argument.
 * @throws Error saying what to install when Chromium or playwright-core is missing.
 */
export async function launch(options = {}) {
  const executablePath = findChromium();
  if (!executablePath) throw new Error('Chromium is required: apt-get install -y chromium (or set VIGIE_CHROMIUM to its path)');
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is required: run \`npm ci\` at the repository root (tests/run does) — ${e.message}`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'vigie-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      viewport: { width: 1280, height: 800 },
      locale: 'fr-FR',
      timezoneId: 'Europe/Paris',
      args: CHROMIUM_ARGS,
      ...options,
    });
    const close = async () => {
      try {
        await context.close();
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    };
    return { context, close, executablePath };
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw new Error(`Chromium (${executablePath}) did not start: ${e.message}`);
  }
}
