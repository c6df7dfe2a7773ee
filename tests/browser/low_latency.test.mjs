// Low latency in a real browser: the publisher page's player runs dash.js in low-latency mode (from the
// MPD's availabilityTimeComplete="false"), starts far enough behind the live edge not to stall on a busy
// machine, catches up to the MPD's target, and plays 20 s without a stall from its first frame on.
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
  // Count every time the video element waits for data once playback has started, from the very first
  // frame: a start too close to the live edge stalls right after it.
  await page.evaluate(() => {
    const video = document.getElementById('playback');
    window.stallLog = [];
    let playing = false;
    video.addEventListener('playing', () => { playing = true; });
    video.addEventListener('waiting', () => { if (playing) window.stallLog.push(video.currentTime); });
  });
  await waitInPage(page, () => window.livedash.firstFrameAt !== null, null, { what: 'the first played frame' });
  const lowLatency = await page.evaluate(() => window.livedash.player.getLowLatencyModeEnabled());
  assert.equal(lowLatency, true, 'dash.js switched to low-latency mode');
  const from = await page.$eval('#playback', (v) => v.currentTime);
  await new Promise((resolve) => setTimeout(resolve, 20_000));
  const result = await page.evaluate(() => ({
    stalls: window.stallLog,
    position: document.getElementById('playback').currentTime,
    latency: window.livedash.latency(),
    target: window.livedash.player.getTargetLiveDelay(),
  }));
  assert.deepEqual(result.stalls, [], 'no stall in 20 s of playback');
  // The MPD's target (0.6 s) as glass-to-glass, but not closer to the MPD's clock than 0.7 s
  // (player.js LOW_LATENCY_MIN_DELAY): no longer the start's 2 s.
  assert.ok(result.target > 0 && result.target <= 0.7, `caught up to the MPD's ServiceDescription target: ${result.target}`);
  assert.ok(result.position - from > 18, `played ${(result.position - from).toFixed(1)} s of 20`);
  assert.ok(result.latency < 3, `stayed near live: ${result.latency.toFixed(2)} s behind`);
  await page.click('#stop');
  await waitInPage(page, () => window.livedash.state === 'ended', null, { what: 'ended' });
  await page.close();
});
