// Zero-loss resume in a real browser: the publisher page reaches the server through a proxy the test
// cuts in the middle of the stream (and keeps down for a moment). The page keeps recording, reconnects
// by itself, resumes the same byte stream, and the finished recording holds every frame the recorder
// made with no gap in its timeline; a viewer (connected directly) sees at most one stall.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { browserAndServer as setUp } from './lib/server.mjs';
import { startProxy } from './lib/proxy.mjs';
import { readVideoTimeline } from './lib/mp4.mjs';
import { readRecorderVideo } from './lib/matroska.mjs';
import { keepRecorderOutput, recorderOutputs, waitInPage, waitForPlaybackProgress } from './lib/pages.mjs';

/** How long the network stays down: long enough that a gap would show, well inside the grace. */
const OUTAGE_MS = 1500;

test('a dropped publisher resumes by itself and the recording keeps every frame, with no gap', async (t) => {
  const { browser, server } = await setUp(t, ['--reconnect-grace', '10', '--segment-duration', '1']);
  const proxy = await startProxy(server.url);
  t.after(() => proxy.close());
  const publisher = await browser.newPage();
  // Keeps a copy of everything the page's recorder produces: the measure of "nothing lost".
  await keepRecorderOutput(publisher);
  await publisher.goto(`${proxy.url}/`);
  await publisher.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  await publisher.fill('#stream', 'dropped');
  await publisher.click('#start');
  await waitInPage(publisher, () => window.livedash.state === 'live', null, { what: 'live' });
  const fps = await publisher.$eval('#preview', (video) => video.srcObject.getVideoTracks()[0].getSettings().frameRate);

  const viewer = await browser.newPage();
  await viewer.goto(`${server.url}/watch/dropped`);
  await waitForPlaybackProgress(viewer, 1);
  // Stalls are counted from when the viewer's player left its start delay (player.js plays low latency
  // 2 s behind for its first seconds, then takes its target): on a busy machine the start itself may
  // stall or jump, which says nothing about the publisher's drop.
  await waitInPage(viewer, () => window.livedash.player.getSettings().streaming.delay.liveDelay !== 2, null,
    { what: "the viewer's player to take its low-latency target" });
  // A stall is the video element waiting for data once it plays (dash.js's BUFFER_EMPTY comes per track).
  await viewer.evaluate(() => {
    window.waits = 0;
    document.getElementById('playback').addEventListener('waiting', () => { window.waits += 1; });
  });

  proxy.refuseFor(OUTAGE_MS);
  proxy.cut();
  await waitInPage(publisher, () => window.livedash.state === 'reconnecting', null, { what: 'the page notices the drop' });
  await waitInPage(publisher, () => window.livedash.resumes === 1 && window.livedash.state === 'live', null,
    { what: 'the page resumes' });
  assert.equal(await publisher.evaluate(() => window.livedash.fallbacks), 0, 'resumed, not restarted');
  await waitForPlaybackProgress(viewer, 3, { timeoutMs: 30_000 });

  const recordedMs = await publisher.evaluate(() => performance.now() - window.livedash.recorderStartedAt);
  await publisher.click('#stop');
  await waitInPage(publisher, () => window.livedash.state === 'ended', null, { what: 'ended' });
  const stalls = await viewer.evaluate(() => window.waits);

  const recorders = await publisher.evaluate(() => window.recordedByRecorder.length);
  assert.equal(recorders, 1, 'one recorder from start to stop');
  const [produced] = await recorderOutputs(publisher);
  const recorder = readRecorderVideo(produced);
  const recorderSeconds = (recorder.timestamps.at(-1) - recorder.timestamps[0]) / 1000;
  const timeline = readVideoTimeline(join(server.mediaDir, 'dropped'));
  const frame = 1 / fps;
  console.log(`recorder: ${recorder.frames} frames over ${recorderSeconds.toFixed(3)} s, ran ≈ `
    + `${(recordedMs / 1000).toFixed(3)} s at ${fps} fps nominal (${Math.round((recordedMs / 1000) * fps)} frames); `
    + `the recording: ${timeline.frames} frames, ${timeline.seconds.toFixed(3)} s, longest frame `
    + `${timeline.longestFrameSeconds.toFixed(3)} s, largest gap ${timeline.largestGapSeconds.toFixed(3)} s; viewer stalls ${stalls}`);
  // Every frame the recorder produced, across the drop, is in the recording.
  assert.equal(timeline.frames, recorder.frames, 'frames in the recording = frames the recorder produced');
  // No gap: the recording lasts as long as the recorder's frames span, ± one frame.
  assert.ok(Math.abs(timeline.seconds - recorderSeconds) <= frame + 0.001,
    `the recording lasts ${timeline.seconds} s, the recorder's frames span ${recorderSeconds} s`);
  // An outage kept as a gap would show as one frame lasting 1.5 s, or a jump between fragments.
  assert.ok(timeline.longestFrameSeconds < OUTAGE_MS / 2000, `a frame lasts ${timeline.longestFrameSeconds} s`);
  assert.ok(timeline.largestGapSeconds <= frame, `the timeline jumps ${timeline.largestGapSeconds} s`);
  assert.ok(stalls <= 1, `the viewer stalled ${stalls} times`);
});

test('when the server can no longer resume, the page goes on with a new recording', async (t) => {
  const { browser, server } = await setUp(t, ['--reconnect-grace', '1', '--segment-duration', '1']);
  const proxy = await startProxy(server.url);
  t.after(() => proxy.close());
  const publisher = await browser.newPage();
  await publisher.goto(`${proxy.url}/`);
  await publisher.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  await publisher.fill('#stream', 'fell-back');
  await publisher.click('#start');
  await waitInPage(publisher, () => window.livedash.state === 'live', null, { what: 'live' });
  // Down for longer than the grace: the parked recording is finalised before the page is back.
  proxy.refuseFor(3000);
  proxy.cut();
  await waitInPage(publisher, () => window.livedash.fallbacks === 1 && window.livedash.state === 'live', null,
    { what: 'the page goes on with a new recording' });
  assert.equal(await publisher.evaluate(() => window.livedash.resumes), 0);
  await publisher.click('#stop');
  await waitInPage(publisher, () => window.livedash.state === 'ended', null, { what: 'ended' });
});
