// The viewer page as a person uses it: playback starts muted with an Unmute button; the latency and the
// number watching are shown and follow what happens; "Go to live" appears when playback falls behind and
// brings it back; the state line says waiting / live / ended; after the end the recording plays with
// seeking and its Download link gives an MP4 file. All of it by keyboard alone, and on a phone-sized
// screen in one column without horizontal scrolling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { browserAndServer as setUp } from './lib/server.mjs';
import { goLive, waitInPage, waitForPlaybackProgress, statusText } from './lib/pages.mjs';
import { publishFixture } from './lib/publisher.mjs';

/** The viewer page's target latency (seconds) and what it shows. */
const latencyFacts = () => ({
  latency: window.livedash.latency,
  target: window.livedash.player?.targetLatency(),
  shown: document.getElementById('latency').textContent,
  behind: !document.getElementById('live-edge').hidden,
});

/** Pauses playback until the page offers "Go to live". */
async function fallBehind(page) {
  await page.evaluate(() => document.getElementById('playback').pause());
  await waitInPage(page, () => !document.getElementById('live-edge').hidden, null,
    { what: '"Go to live" after falling behind', timeoutMs: 30_000 });
}

/** Saves what the browser downloads when `action` runs; returns its bytes and suggested name. */
async function download(page, action) {
  const [file] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), action()]);
  const path = await file.path();
  return { name: file.suggestedFilename(), bytes: readFileSync(path) };
}

test('viewer page: unmute, latency, viewer count, go to live, states, and the download link', async (t) => {
  const { browser, server } = await setUp(t);
  const viewer = await browser.newPage();
  await viewer.goto(`${server.url}/watch/watched`);
  await waitInPage(viewer, () => window.livedash.state === 'waiting', null, { what: 'waiting' });
  assert.match(await statusText(viewer), /Waiting for watched to go live/);

  const publisher = await goLive(browser, server, 'watched');
  await waitInPage(viewer, () => window.livedash.state === 'live', null, { what: 'live' });
  assert.equal(await statusText(viewer), 'watched is live.');
  await waitForPlaybackProgress(viewer, 1);

  // Muted at first, with an Unmute button that works.
  assert.equal(await viewer.$eval('#playback', (v) => v.muted), true, 'starts muted');
  assert.equal(await viewer.textContent('#unmute'), 'Unmute');
  await viewer.click('#unmute');
  assert.equal(await viewer.$eval('#playback', (v) => v.muted), false);
  assert.equal(await viewer.textContent('#unmute'), 'Mute');
  assert.equal(await viewer.getAttribute('#unmute', 'aria-pressed'), 'true');

  // The latency, measured against the server's clock, in seconds.
  const facts = await waitInPage(viewer, () => window.livedash.latency !== null && window.livedash.latency < 10 && (() => ({
    latency: window.livedash.latency, shown: document.getElementById('latency').textContent,
  }))(), null, { what: 'a latency figure' });
  assert.match(facts.shown, /^\d+\.\d s behind live$/);

  // The count: this page, then a second viewer, then the second leaves.
  await waitInPage(viewer, () => document.getElementById('viewers').textContent === '1', null, { what: '1 watching' });
  const second = await browser.newPage();
  await second.goto(`${server.url}/watch/watched`);
  await waitInPage(viewer, () => document.getElementById('viewers').textContent === '2', null, { what: '2 watching' });
  await second.close();
  await waitInPage(viewer, () => document.getElementById('viewers').textContent === '1', null, { what: 'back to 1' });

  // Behind live: the button appears, and brings playback back near the target.
  await waitInPage(viewer, () => document.getElementById('live-edge').hidden && window.livedash.latency < 2, null,
    { what: 'at the live edge without "Go to live"' });
  await fallBehind(viewer);
  const behind = await viewer.evaluate(latencyFacts);
  assert.ok(behind.latency > Math.max(2 * behind.target, behind.target + 1.5), `behind: ${JSON.stringify(behind)}`);
  await viewer.screenshot({ path: 'target/screenshots/viewer-behind-live.png' });
  await viewer.click('#live-edge');
  await waitInPage(viewer, () => document.getElementById('live-edge').hidden && !document.getElementById('playback').paused, null,
    { what: 'back at live' });
  const back = await viewer.evaluate(latencyFacts);
  assert.ok(back.latency <= Math.max(2 * back.target, back.target + 1.5), `back at live: ${JSON.stringify(back)}`);
  await viewer.screenshot({ path: 'target/screenshots/viewer-live.png' });

  // The end: the state says so, the recording plays and seeks, the Download link gives an MP4.
  await publisher.click('#stop');
  await waitInPage(viewer, () => window.livedash.state === 'ended', null, { what: 'ended' });
  assert.match(await statusText(viewer), /watched ended after \d+\.\d s\. You are watching the recording\./);
  await waitInPage(viewer, () => !document.getElementById('download').hidden, null, { what: 'the download link' });
  assert.equal(await viewer.getAttribute('#download', 'href'), '/dash/watched/recording.mp4');
  assert.equal(await viewer.textContent('#download'), 'Download the recording (MP4)');
  assert.equal(await viewer.isVisible('#live-edge'), false);
  const late = await browser.newPage();
  await late.goto(`${server.url}/watch/watched`);
  await waitInPage(late, () => window.livedash.state === 'ended' && document.getElementById('playback').readyState >= 2, null,
    { what: 'the recording loaded' });
  await late.evaluate(() => { document.getElementById('playback').currentTime = 3; });
  await waitInPage(late, () => { const v = document.getElementById('playback'); return !v.seeking && v.currentTime >= 3; }, null,
    { what: 'seeking in the recording' });
  const file = await download(viewer, () => viewer.click('#download'));
  assert.equal(file.name, 'watched.mp4');
  assert.equal(file.bytes.subarray(4, 8).toString('latin1'), 'ftyp', 'an MP4 file');
  assert.ok(file.bytes.length > 10_000, `${file.bytes.length} bytes`);
  await viewer.screenshot({ path: 'target/screenshots/viewer-ended.png' });
});

test('viewer page by keyboard alone: unmute, go to live, download', async (t) => {
  const { browser, server } = await setUp(t);
  const publisher = await goLive(browser, server, 'keys');
  const viewer = await browser.newPage();
  await viewer.goto(`${server.url}/watch/keys`);
  await waitInPage(viewer, () => window.livedash.state === 'live', null, { what: 'live' });
  await waitForPlaybackProgress(viewer, 1);

  /** Presses Tab until the element with `id` has focus (bounded); checks the focus is visible. */
  async function tabTo(id) {
    for (let i = 0; i < 15; i += 1) {
      await viewer.keyboard.press('Tab');
      if (await viewer.evaluate((id) => document.activeElement?.id === id, id)) {
        const outline = await viewer.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
        assert.notEqual(outline, 'none', `focus on #${id} is visible`);
        return;
      }
    }
    const order = await viewer.evaluate(() => document.activeElement?.outerHTML.slice(0, 80));
    assert.fail(`Tab never reached #${id} (ended on ${order})`);
  }

  await tabTo('unmute');
  await viewer.keyboard.press('Space');
  assert.equal(await viewer.$eval('#playback', (v) => v.muted), false, 'Space on Unmute unmutes');
  await viewer.keyboard.press('Enter');
  assert.equal(await viewer.$eval('#playback', (v) => v.muted), true, 'Enter on Mute mutes again');

  await fallBehind(viewer);
  await viewer.evaluate(() => document.activeElement.blur());
  await tabTo('live-edge');
  await viewer.screenshot({ path: 'target/screenshots/viewer-keyboard-focus.png' });
  await viewer.keyboard.press('Enter');
  await waitInPage(viewer, () => document.getElementById('live-edge').hidden, null, { what: 'back at live by keyboard' });

  await publisher.click('#stop');
  await waitInPage(viewer, () => !document.getElementById('download').hidden, null, { what: 'the download link' });
  await viewer.evaluate(() => document.activeElement.blur());
  await tabTo('download');
  const [file] = await Promise.all([viewer.waitForEvent('download', { timeout: 60_000 }), viewer.keyboard.press('Enter')]);
  assert.equal(readFileSync(await file.path()).subarray(4, 8).toString('latin1'), 'ftyp');
});

test('viewer page on a phone: one column, no horizontal scrolling', async (t) => {
  const { browser, server } = await setUp(t);
  const publisher = await goLive(browser, server, 'phone');
  const viewer = await browser.newPage();
  await viewer.setViewportSize({ width: 390, height: 844 });
  await viewer.goto(`${server.url}/watch/phone`);
  await waitInPage(viewer, () => window.livedash.state === 'live', null, { what: 'live' });
  await waitForPlaybackProgress(viewer, 1);
  await waitInPage(viewer, () => document.getElementById('viewers').textContent === '1', null, { what: 'the count' });
  const layout = await viewer.evaluate(() => {
    const box = (id) => document.getElementById(id).getBoundingClientRect();
    return {
      scrollWidth: document.documentElement.scrollWidth,
      width: window.innerWidth,
      video: box('playback'),
      status: box('status'),
      unmute: box('unmute'),
    };
  });
  assert.ok(layout.scrollWidth <= layout.width, `no horizontal scroll: ${layout.scrollWidth} > ${layout.width}`);
  assert.ok(layout.video.right <= layout.width && layout.video.width >= layout.width * 0.8, `the video fills the width: ${JSON.stringify(layout.video)}`);
  assert.ok(layout.unmute.top >= layout.video.bottom && layout.status.top >= layout.unmute.bottom, 'stacked in one column');
  await viewer.screenshot({ path: 'target/screenshots/viewer-phone.png', fullPage: true });
  await publisher.click('#stop');
});

test('viewer page says "reconnecting" while the publisher is away, then "ended"', async (t) => {
  const { browser, server } = await setUp(t, ['--reconnect-grace', '6']);
  const { page: publisher } = await publishFixture(browser, server, 'flaky', { seconds: 30 });
  const viewer = await browser.newPage();
  await viewer.goto(`${server.url}/watch/flaky`);
  await waitInPage(viewer, () => window.livedash.state === 'live', null, { what: 'live' });
  // The publisher's connection drops (its tab closes): the stream waits for it to come back.
  await publisher.close();
  await waitInPage(viewer, () => window.livedash.state === 'reconnecting', null, { what: 'reconnecting' });
  assert.equal(await statusText(viewer), "flaky's publisher lost their connection; waiting for them to come back…");
  assert.equal(await viewer.isVisible('#live-edge'), false, 'no "Go to live" while there is no live edge');
  await viewer.screenshot({ path: 'target/screenshots/viewer-reconnecting.png' });
  // Nobody came back within the grace period: the recording is what is left.
  await waitInPage(viewer, () => window.livedash.state === 'ended', null, { what: 'ended after the grace period' });
});
