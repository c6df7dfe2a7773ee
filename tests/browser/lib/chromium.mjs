// Launches Debian's Chromium through playwright-core with the flags these machines need
// (no sandbox as root, no outside networking, fake camera and microphone, autoplay allowed).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM_PATH = process.env.LIVEDASH_CHROMIUM || '/usr/bin/chromium';

/**
 * Flags from DESIGN.md: headless, closed network, fake media devices (`fakeCameras` of them: Chromium's
 * fake capture makes one unless told more).
 */
export function chromiumArgs({ fakeVideoFile, fakeCameras } = {}) {
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    fakeCameras ? `--use-fake-device-for-media-stream=device-count=${fakeCameras}` : '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    '--autoplay-policy=no-user-gesture-required',
  ];
  if (fakeVideoFile) args.push(`--use-file-for-fake-video-capture=${fakeVideoFile}`);
  return args;
}

/**
 * A fresh browser profile in a temp dir; `close()` removes it. `contextOptions` go to playwright (e.g. a
 * phone's `viewport`, `isMobile`, `hasTouch`).
 */
export async function launchBrowser(options = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'livedash-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: chromiumArgs(options),
    viewport: { width: 1280, height: 800 },
    ...options.contextOptions,
  });
  return {
    context,
    async newPage() {
      const page = await context.newPage();
      page.on('console', (msg) => {
        if (process.env.LIVEDASH_BROWSER_LOG) console.log(`[page ${msg.type()}] ${msg.text()}`);
      });
      return page;
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
