// An encoder's stream in a real browser: the ffmpeg CLI publishes H.264 + AAC over RTMP, and the viewer
// page /watch/NAME plays it with dash.js in low-latency mode, several seconds of video without a fatal
// player error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserAndServer } from './lib/server.mjs';
import { waitInPage, waitForPlaybackProgress } from './lib/pages.mjs';
import { rtmpEncoder } from './lib/encoder.mjs';

test('the viewer page plays an RTMP-published stream with dash.js in low-latency mode', async (t) => {
  const { browser, server } = await browserAndServer(t, ['--latency', 'low', '--segment-duration', '1']);
  assert.ok(server.rtmpUrl, 'the server takes RTMP');
  const ffmpeg = rtmpEncoder(`${server.rtmpUrl}/rtmpcam`, { seconds: 30 });
  t.after(ffmpeg.stop);

  const page = await browser.newPage();
  await page.goto(`${server.url}/watch/rtmpcam`);
  await waitInPage(page, () => window.livedash.player !== null && window.livedash.state === 'live', null,
    { what: `the stream to go live (ffmpeg: ${ffmpeg.log()})` });
  await waitForPlaybackProgress(page, 6, { timeoutMs: 40_000 });
  const result = await page.evaluate(() => ({
    lowLatency: window.livedash.player.getLowLatencyModeEnabled(),
    playerError: window.livedash.playerError,
    lastError: window.livedash.lastError,
    state: window.livedash.state,
  }));
  assert.equal(result.lowLatency, true, 'dash.js is in low-latency mode');
  assert.equal(result.playerError, null, 'no player error');
  assert.equal(result.lastError, null, 'no stream error');
  assert.equal(result.state, 'live');
  await page.close();
});
