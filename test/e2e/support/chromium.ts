// Debian's Chromium for the browser tests, driven by playwright-core: where it is, whether a
// suite may run here, how it is started on these machines, and where screenshots go.
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const IN_CI = process.env.CI === 'true';

/** Screenshots every run keeps, as test artefacts. */
export const SHOTS = resolve('.posture/artefacts/screenshots');
const DOCS_SHOTS = resolve('docs/screenshots');

/**
 * True when a browser suite must be skipped: Chromium is missing and this is not CI (where the
 * suite runs, and fails without it). Prints why.
 */
export function skipWithoutChromium(suite: string): boolean {
  if (existsSync(CHROMIUM) || IN_CI) return false;
  console.warn(`${suite} skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);
  return true;
}

/**
 * Headless Chromium with a profile of its own: no sandbox (the tests may run as root), and none of
 * the background connections a closed network refuses many at a time.
 */
export function launchChromium(profile: string, extraArgs: string[] = []): Promise<BrowserContext> {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
    viewport: { width: 1360, height: 860 },
    deviceScaleFactor: 1,
    colorScheme: 'dark',
  });
}

/** With POSTURE_UPDATE_SCREENSHOTS=1, copies these screenshots to docs/screenshots/ for the README. */
export function publishScreenshots(files: readonly string[]): void {
  if (process.env.POSTURE_UPDATE_SCREENSHOTS !== '1') return;
  mkdirSync(DOCS_SHOTS, { recursive: true });
  for (const file of files) copyFileSync(join(SHOTS, file), join(DOCS_SHOTS, file));
}
