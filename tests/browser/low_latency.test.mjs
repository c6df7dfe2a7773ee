// Low latency in a real browser: the publisher page's player runs dash.js in low-latency mode (from the
// MPD's availabilityTimeComplete="false"), aims at the MPD's target, and plays 20 s without a stall.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './lib/chromium.mjs';
import { startServer } from './lib/server.mjs';
import { goLive, waitInPage } from './lib/pages.mjs';

let browser;
let server;

before(async () => {
  browser = await launchBrowser();
  server = await startServer(['--latency', 'low', '--target-latency', '0.6']);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('dash.js plays the H.264 stream in low-latency mode for 20 s without a stall', async () => {
  const page = await goLive(browser, server, 'll-browser');
  await waitInPage(page, () => window.livedash.firstFrameAt !== null, null, { what: 'the first played frame' });
  const mode = await page.evaluate(() => ({
    lowLatency: window.livedash.player.getLowLatencyModeEnabled(),
    target: window.livedash.player.getTargetLiveDelay(),
  }));
  assert.equal(mode.lowLatency, true, 'dash.js switched to low-latency mode');
  assert.ok(mode.target > 0 && mode.target <= 0.6, `target from the MPD's ServiceDescription: ${mode.target}`);

  // Count every time the video element waits for data once playback has started.
  await page.evaluate(() => {
    const video = document.getElementById('playback');
    window.stallLog = [];
    video.addEventListener('waiting', () => window.stallLog.push(video.currentTime));
  });
  const from = await page.$eval('#playback', (v) => v.currentTime);
  await new Promise((resolve) => setTimeout(resolve, 20_000));
  const result = await page.evaluate(() => ({
    stalls: window.stallLog,
    position: document.getElementById('playback').currentTime,
    latency: window.livedash.latency(),
  }));
  assert.deepEqual(result.stalls, [], 'no stall in 20 s of playback');
  assert.ok(result.position - from > 18, `played ${(result.position - from).toFixed(1)} s of 20`);
  assert.ok(result.latency < 3, `stayed near live: ${result.latency.toFixed(2)} s behind`);
  await page.click('#stop');
  await waitInPage(page, () => window.livedash.state === 'ended', null, { what: 'ended' });
  await page.close();
});
