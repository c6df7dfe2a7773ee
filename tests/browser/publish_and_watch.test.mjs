// The vertical slice in a real browser: the publisher page records Chromium's fake camera, goes live,
// plays itself back with dash.js; the viewer page plays the same stream; Stop ends it and the
// recording stays playable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser } from './lib/chromium.mjs';
import { startServer } from './lib/server.mjs';
import { goLive, waitInPage, waitForPlaybackProgress, statusText, playbackTime } from './lib/pages.mjs';

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

test('publisher goes live with the default format, a viewer watches, Stop leaves a recording', async () => {
  const publisher = await goLive(browser, server, 'browser-live');
  const format = await publisher.$eval('#codec', (select) => select.value);
  assert.equal(format, 'video/webm;codecs=h264,opus', 'H.264 in Matroska is the default where supported');
  await waitInPage(publisher, () => window.livedash.state === 'live', null, { what: 'manifest_ready' });
  assert.match(await statusText(publisher), /live/i);
  const shareLink = await publisher.$eval('#share-link', (a) => a.href);
  assert.equal(shareLink, `${server.url}/watch/browser-live`);
  await waitForPlaybackProgress(publisher, 2);

  const viewer = await browser.newPage();
  await viewer.goto(shareLink);
  await waitInPage(viewer, () => window.livedash.state === 'live', null, { what: 'viewer manifest_ready' });
  await waitForPlaybackProgress(viewer, 2);

  await publisher.click('#stop');
  await waitInPage(publisher, () => window.livedash.state === 'ended', null, { what: 'ended on the publisher page' });
  assert.match(await statusText(publisher), /Ended: \d+\.\d s recorded/);
  await waitInPage(viewer, () => window.livedash.state === 'ended', null, { what: 'ended on the viewer page' });
  assert.match(await statusText(viewer), /ended after \d+\.\d s/);

  // A late viewer gets the finished recording and plays it from the start.
  const late = await browser.newPage();
  await late.goto(shareLink);
  await waitInPage(late, () => window.livedash.state === 'ended', null, { what: 'late viewer sees ended' });
  await waitForPlaybackProgress(late, 1);
  assert.ok(await playbackTime(late) < 10, 'the recording plays from its start');
  await Promise.all([publisher.close(), viewer.close(), late.close()]);
});

test('a second publisher on a live stream is told in words that the name is taken', async () => {
  const first = await goLive(browser, server, 'taken-name');
  await waitInPage(first, () => window.livedash.state === 'live', null, { what: 'first publisher live' });
  const second = await goLive(browser, server, 'taken-name');
  await waitInPage(second, () => window.livedash.state === 'error', null, { what: 'stream_busy on the second page' });
  const error = await second.evaluate(() => window.livedash.lastError);
  assert.equal(error.code, 'stream_busy');
  assert.match(await statusText(second), /already live with this stream name/);
  await first.click('#stop');
  await waitInPage(first, () => window.livedash.state === 'ended', null, { what: 'first publisher ended' });
  await Promise.all([first.close(), second.close()]);
});
