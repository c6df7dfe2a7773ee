// HLS in a real browser: the viewer page with `?player=hls` plays the stream's master.m3u8 with the
// embedded hls.js in low-latency mode (LL-HLS parts from the same CMAF chunks as DASH), live at the
// camera's 640 px width without a fatal error; after Stop the recording plays from its start to its end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './lib/chromium.mjs';
import { startServer } from './lib/server.mjs';
import { goLive, waitInPage, waitForPlaybackProgress, playbackTime } from './lib/pages.mjs';

let browser;
let server;

before(async () => {
  browser = await launchBrowser();
  server = await startServer();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const hlsPlayer = () => window.livedash.player?.name === 'hls.js' && window.livedash.player.isReady();

test('hls.js in low-latency mode plays the live stream and, after Stop, the whole recording', async () => {
  const publisher = await goLive(browser, server, 'hls-live');
  await waitInPage(publisher, () => window.livedash.state === 'live', null, { what: 'manifest_ready' });

  const viewer = await browser.newPage();
  await viewer.goto(`${server.url}/watch/hls-live?player=hls`);
  await waitInPage(viewer, hlsPlayer, null, { what: 'hls.js to load master.m3u8' });
  const lowLatency = await viewer.evaluate(() => window.livedash.player.hls.config.lowLatencyMode);
  assert.equal(lowLatency, true);
  await waitForPlaybackProgress(viewer, 10, { timeoutMs: 60_000 });
  assert.equal(await viewer.$eval('#playback', (video) => video.videoWidth), 640);
  const partsUsed = await viewer.evaluate(() => window.livedash.player.hls.levels[0].details.partList?.length ?? 0);
  assert.ok(partsUsed > 0, 'the playlist hls.js follows has LL-HLS parts');
  assert.deepEqual(await viewer.evaluate(() => window.livedash.player.errors), [], 'no fatal hls.js error');

  await publisher.click('#stop');
  await waitInPage(viewer, () => window.livedash.state === 'ended', null, { what: 'ended on the viewer page' });

  // The recording, from a new viewer: starts at the beginning and plays through to the end.
  const late = await browser.newPage();
  await late.goto(`${server.url}/watch/hls-live?player=hls`);
  await waitInPage(late, hlsPlayer, null, { what: 'hls.js to load the recording' });
  await waitForPlaybackProgress(late, 1);
  assert.ok(await playbackTime(late) < 5, 'the recording plays from its start');
  const duration = await late.$eval('#playback', (video) => video.duration);
  assert.ok(Number.isFinite(duration) && duration > 10, `a finite recording of the whole stream: ${duration}`);
  await waitInPage(late, () => document.getElementById('playback').ended, null,
    { what: 'the recording to play to its end', timeoutMs: (duration + 30) * 1000 });
  assert.deepEqual(await late.evaluate(() => window.livedash.player.errors), [], 'no fatal hls.js error');
  await Promise.all([publisher.close(), viewer.close(), late.close()]);
});

test('a VP8 stream has no HLS, and the viewer page says so', async () => {
  const publisher = await goLive(browser, server, 'hls-vp8', { format: 'video/webm;codecs=vp8,opus' });
  await waitInPage(publisher, () => window.livedash.state === 'live', null, { what: 'manifest_ready' });
  const viewer = await browser.newPage();
  await viewer.goto(`${server.url}/watch/hls-vp8?player=hls`);
  await waitInPage(viewer, () => window.livedash.state === 'error', null, { what: 'the page to give up on HLS' });
  assert.match(await viewer.$eval('#status', (el) => el.textContent), /VP8 video in WebM segments, which HLS cannot carry/);
  await publisher.click('#stop');
  await Promise.all([publisher.close(), viewer.close()]);
});
