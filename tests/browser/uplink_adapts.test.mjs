// An uplink that adapts, in a real browser: through a proxy whose upload is slower than what the
// recorder writes, the publisher page says it can't keep up, lowers the bitrate (a new recording in the
// same presentation), and the backlog it holds stops growing; its player aims close to live even though
// the slow link made the presentation's clock start late; and on a fast link far away it is never
// lowered but raised, with no frame lost and no hole at the switch. Figures come from scripts/bench-uplink;
// the decisions alone are tested in uplink_rate.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { browserAndServer as setUp, startServer } from './lib/server.mjs';
import { launchBrowser } from './lib/chromium.mjs';
import { noisyCameraFile } from './lib/noisy-camera.mjs';
import { startProxy } from './lib/proxy.mjs';
import { keepRecorderOutput, recorderOutputs, waitInPage } from './lib/pages.mjs';
import { readVideoTimeline } from './lib/mp4.mjs';
import { readRecorderVideo } from './lib/matroska.mjs';

test('a publisher on a slow uplink lowers its bitrate and stays live', async (t) => {
  const { browser, server } = await setUp(t, ['--segment-duration', '1']);
  // The fake camera records ~400 kbit/s (+64 audio) at the page's setting: 300 kbit/s can't carry it,
  // and can carry the lowest step of the ladder.
  const proxy = await startProxy(server.url, { uploadKbitPerSecond: 300, delayMs: 50 });
  t.after(() => proxy.close());
  const page = await browser.newPage();
  await page.goto(`${proxy.url}/`);
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  await page.fill('#stream', 'slow-uplink');
  await page.click('#start');
  // The first recording starts at 1 Mbit/s (uplink.js INITIAL_LEVEL).
  assert.equal(await page.evaluate(() => window.livedash.videoBitsPerSecond), 1_000_000);
  await waitInPage(page, () => window.livedash.bitrateLowered > 0, null,
    { what: 'the page lowers its bitrate', timeoutMs: 60_000 });
  await waitInPage(page, () => window.livedash.state === 'live', null, { what: 'live at the lower bitrate', timeoutMs: 60_000 });
  const bitrate = await page.evaluate(() => window.livedash.videoBitsPerSecond);
  assert.ok(bitrate < 1_000_000, `${bitrate}`);
  await page.click('#stop');
  await waitInPage(page, () => window.livedash.state === 'ended', null, { what: 'ended', timeoutMs: 60_000 });
});

test('a slow uplink that makes the clock start late does not send viewers segments behind live', async (t) => {
  // A webcam-like camera (lib/noisy-camera.mjs): its first keyframe at the page's first bitrate (about
  // 30 KB) takes most of a second through 300 kbit/s, so the MPD's clock (availabilityStartTime) starts
  // later after the capture (ProducerReferenceTime) than its 0.6 s latency target. A viewer whose dash.js
  // reads that ProducerReferenceTime (in the MPD from the first finished segment on) then drops the target
  // and plays four segments (8 s) behind; the page aims at the target minus that, floored, instead.
  const dir = mkdtempSync(join(tmpdir(), 'livedash-noisy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const browser = await launchBrowser({ fakeVideoFile: noisyCameraFile(dir, 1) });
  const server = await startServer();
  t.after(async () => {
    await browser.close();
    await server.stop();
  });
  const proxy = await startProxy(server.url, { uploadKbitPerSecond: 300, delayMs: 50 });
  t.after(() => proxy.close());
  const publisher = await browser.newPage();
  await publisher.goto(`${proxy.url}/`);
  await publisher.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  await publisher.fill('#stream', 'late-clock');
  await publisher.click('#start');
  const manifest = async () => {
    const response = await fetch(`${server.url}/dash/late-clock/manifest.mpd`);
    return response.ok ? response.text() : '';
  };
  for (let i = 0; i < 600 && !(await manifest()).includes('<ProducerReferenceTime'); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const text = await manifest();
  assert.match(text, /<ProducerReferenceTime/, 'the MPD names the capture time');
  const clockLate = (Date.parse(/availabilityStartTime="([^"]+)"/.exec(text)[1])
    - Date.parse(/wallClockTime="([^"]+)"/.exec(text)[1])) / 1000;
  const latencyTarget = Number(/<Latency target="(\d+)"/.exec(text)[1]) / 1000;
  // What makes this case: the clock started later than the whole latency target.
  assert.ok(clockLate > latencyTarget, `the MPD's clock started ${clockLate} s after the capture`);

  const viewer = await browser.newPage();
  await viewer.goto(`${server.url}/watch/late-clock`);
  // The player starts 2 s behind, then takes its own target (player.js LOW_LATENCY_CATCH_UP_AFTER_MS).
  await waitInPage(viewer, () => {
    const { player } = window.livedash;
    return player && player.getSettings().streaming.delay.liveDelay !== 2 && player.getTargetLiveDelay() !== 2;
  }, null, { what: 'the player to take its low-latency target', timeoutMs: 90_000 });
  const target = await viewer.evaluate(() => window.livedash.player.getTargetLiveDelay());
  assert.ok(target > 0 && target <= 1, `the player aims ${target} s behind the MPD's clock (it started ${clockLate} s late)`);
});

test('a raise on a fast link far away continues the presentation with every frame and no hole', async (t) => {
  const { browser, server } = await setUp(t, ['--reconnect-grace', '10', '--segment-duration', '1']);
  // 100 ms each way: the new socket's handshakes alone take 0.4 s, a hole a wall-clock placement would show.
  const proxy = await startProxy(server.url, { delayMs: 100 });
  t.after(() => proxy.close());
  const page = await browser.newPage();
  await keepRecorderOutput(page);
  await page.goto(`${proxy.url}/`);
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  await page.fill('#stream', 'raised');
  await page.click('#start');
  assert.equal(await page.evaluate(() => window.livedash.videoBitsPerSecond), 1_000_000);
  // uplink-rate.js raises after 30 s of calm.
  await waitInPage(page, () => window.livedash.videoBitsPerSecond > 1_000_000, null,
    { what: 'the page raises its bitrate', timeoutMs: 90_000 });
  assert.equal(await page.evaluate(() => window.livedash.bitrateLowered), 0, 'a fast link far away is not lowered');
  await waitInPage(page, () => window.recordedByRecorder.length === 2 && window.recordedByRecorder[1].length > 20, null,
    { what: 'two seconds of the new recording' });
  await page.click('#stop');
  await waitInPage(page, () => window.livedash.state === 'ended', null, { what: 'ended', timeoutMs: 60_000 });

  const recorders = (await recorderOutputs(page)).map(readRecorderVideo);
  const timeline = readVideoTimeline(join(server.mediaDir, 'raised'));
  console.log(`recorders: ${recorders.map((r) => r.frames).join(' + ')} frames; the recording: ${timeline.frames} frames, `
    + `${timeline.seconds.toFixed(3)} s, longest frame ${timeline.longestFrameSeconds.toFixed(3)} s, `
    + `largest gap ${timeline.largestGapSeconds.toFixed(3)} s`);
  assert.equal(recorders.length, 2, 'one raise: two recorders');
  assert.equal(timeline.frames, recorders[0].frames + recorders[1].frames, 'every frame of both recorders');
  // The switch lasts no longer than a frame or two (the server closes a gap of up to 150 ms).
  assert.ok(timeline.longestFrameSeconds < 0.25, `a frame lasts ${timeline.longestFrameSeconds} s`);
  assert.ok(timeline.largestGapSeconds < 0.25, `the timeline jumps ${timeline.largestGapSeconds} s`);
});
