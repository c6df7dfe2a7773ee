// The publisher's controls in a real browser (Chromium's fake camera and microphones; its fake screen for
// getDisplayMedia, auto-accepted by --use-fake-ui-for-media-stream): device pickers with labels, the
// resolution that ends up in the manifest, mute and camera off that keep the stream going, screen share
// and back without stopping the recorder, thumbnails over the socket, uptime, the viewer count, keyboard
// only, a phone-sized screen, and the path for browsers without MediaStreamTrackProcessor. Screenshots
// go to target/screenshots/ for people to look at.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from './lib/chromium.mjs';
import { startServer } from './lib/server.mjs';
import { goLive, waitInPage, waitForPlaybackProgress } from './lib/pages.mjs';

const SCREENSHOTS = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'target', 'screenshots');
mkdirSync(SCREENSHOTS, { recursive: true });
const screenshot = (page, name) => page.screenshot({ path: join(SCREENSHOTS, `publisher-${name}.png`), fullPage: true });

let browser;
let server;

before(async () => {
  browser = await launchBrowser({ fakeCameras: 2 });
  server = await startServer();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const live = () => window.livedash.state === 'live';
const ended = () => window.livedash.state === 'ended';

/** This stream's `/api/streams` entry, read by the test from the server. */
async function streamEntry(stream) {
  const list = await (await fetch(`${server.url}/api/streams`)).json();
  return list.find((entry) => entry.stream === stream);
}

/** Whether what viewers see now is black (mean brightness of a small copy under 20 of 255). */
const playbackIsBlack = () => {
  const video = document.getElementById('playback');
  const canvas = Object.assign(document.createElement('canvas'), { width: 64, height: 36 });
  const context = canvas.getContext('2d');
  context.drawImage(video, 0, 0, 64, 36);
  const { data } = context.getImageData(0, 0, 64, 36);
  let sum = 0;
  for (let i = 0; i < data.length; i += 4) sum += (data[i] + data[i + 1] + data[i + 2]) / 3;
  return sum / (data.length / 4) < 20;
};

/**
 * Whether the top strip of what viewers see is black: the fake screen (1280×800) is letterboxed into the
 * camera's 4:3 recording, the camera's own picture fills it.
 */
const topStripBlack = () => {
  const video = document.getElementById('playback');
  const canvas = Object.assign(document.createElement('canvas'), { width: 64, height: 48 });
  const context = canvas.getContext('2d');
  context.drawImage(video, 0, 0, 64, 48);
  const { data } = context.getImageData(0, 0, 64, 3);
  let sum = 0;
  for (let i = 0; i < data.length; i += 4) sum += (data[i] + data[i + 1] + data[i + 2]) / 3;
  return sum / (data.length / 4) < 20;
};

async function stop(page) {
  await page.click('#stop');
  await waitInPage(page, ended, null, { what: 'ended' });
}

test('the pickers list the labelled cameras and microphones; another camera and microphone are switched in while live', async () => {
  const page = await goLive(browser, server, 'pickers');
  const cameras = await page.$$eval('#camera option', (options) => options.map((o) => o.textContent));
  const microphones = await page.$$eval('#microphone option', (options) => options.map((o) => o.textContent));
  assert.deepEqual(cameras, ['fake_device_0', 'fake_device_1'], 'cameras listed by label');
  assert.ok(microphones.length >= 2 && microphones.every((label) => label.startsWith('Fake')), `microphones: ${microphones}`);
  await waitInPage(page, live, null, { what: 'live' });
  const inUse = (kind) => page.evaluate((k) => window.livedash.sources[k].label, kind);
  assert.equal(await inUse('camera'), 'fake_device_0');
  await page.selectOption('#camera', { label: 'fake_device_1' });
  await waitInPage(page, () => window.livedash.sources.camera.label === 'fake_device_1', null, { what: 'the other camera in use' });
  const frames = await page.evaluate(() => window.livedash.output.framesWritten());
  const other = await page.$$eval('#microphone option', (options) => options.find((o) => !o.selected).value);
  await page.selectOption('#microphone', other);
  await waitInPage(page, (id) => window.livedash.sources.microphone.getSettings().deviceId === id, other,
    { what: 'the other microphone in use' });
  await waitForPlaybackProgress(page, 3);
  assert.ok(await page.evaluate((n) => window.livedash.output.framesWritten() > n + 20, frames), 'the new camera\'s frames are recorded');
  assert.equal(await page.evaluate(() => window.livedash.recorderStarts), 1, 'the recorder never restarted');
  assert.equal(await page.evaluate(() => window.livedash.state), 'live');
  await screenshot(page, 'pickers');
  await stop(page);
  await page.close();
});

test('the chosen resolution is the size of the served video', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  await page.selectOption('#resolution', '640x360');
  await page.selectOption('#framerate', '15');
  await page.fill('#stream', 'small');
  await page.click('#start');
  await waitInPage(page, live, null, { what: 'live' });
  assert.equal(await page.isDisabled('#resolution'), true, 'the size is fixed while live');
  const manifest = await (await fetch(`${server.url}/dash/small/manifest.mpd`)).text();
  const video = /<Representation[^>]*mimeType="video\/mp4"[^>]*>/.exec(manifest)?.[0] ?? '';
  assert.match(video, /width="640"/, `video representation: ${video}`);
  assert.match(video, /height="360"/, `video representation: ${video}`);
  const camera = await page.evaluate(() => window.livedash.sources.camera.getSettings());
  assert.ok(camera.frameRate <= 15, `the camera was asked for 15 fps: ${JSON.stringify(camera)}`);
  await stop(page);
  await page.close();
});

test('mute and camera off keep the stream live: bytes flow, black picture, no end', async () => {
  const page = await goLive(browser, server, 'muted');
  await waitInPage(page, live, null, { what: 'live' });
  await waitForPlaybackProgress(page, 1);
  assert.equal(await page.evaluate(playbackIsBlack), false, 'the camera picture is not black to start with');
  await page.click('#mute');
  await page.click('#camera-off');
  assert.equal(await page.getAttribute('#mute', 'aria-pressed'), 'true');
  assert.equal(await page.getAttribute('#camera-off', 'aria-pressed'), 'true');
  const before = (await streamEntry('muted')).bytesReceived;
  // What viewers see turns black once the player reaches the frames made after the click.
  await waitInPage(page, playbackIsBlack, null, { what: 'a black picture for viewers' });
  await waitForPlaybackProgress(page, 3);
  const entry = await streamEntry('muted');
  assert.equal(entry.state, 'live');
  assert.ok(entry.bytesReceived > before + 10_000, `bytes still flow: ${before} → ${entry.bytesReceived}`);
  assert.equal(await page.evaluate(() => window.livedash.sources.microphone.enabled), false, 'the microphone track is disabled');
  await screenshot(page, 'camera-off');
  await page.click('#camera-off');
  await waitInPage(page, () => document.getElementById('camera-off').getAttribute('aria-pressed') === 'false', null);
  assert.equal(await page.evaluate(() => window.livedash.recorderStarts), 1, 'the recorder never restarted');
  await stop(page);
  await page.close();
});

test('screen share replaces the camera in the recording and back, without stopping the recorder', async () => {
  const page = await goLive(browser, server, 'screen');
  await waitInPage(page, live, null, { what: 'live' });
  await waitForPlaybackProgress(page, 1);
  const presentation = (await streamEntry('screen')).presentation;
  await page.click('#screen');
  await waitInPage(page, () => window.livedash.videoSource === 'screen', null, { what: 'sharing the screen' });
  assert.equal(await page.getAttribute('#screen', 'aria-pressed'), 'true');
  const screenLabel = await page.evaluate(() => window.livedash.sources.screen.getVideoTracks()[0].label);
  assert.match(screenLabel, /screen/, 'a real getDisplayMedia track');
  const framesAtShare = await page.evaluate(() => window.livedash.output.framesWritten());
  assert.equal(await page.evaluate(topStripBlack), false, 'the camera fills the picture before sharing');
  await waitInPage(page, topStripBlack, null, { what: 'viewers to see the letterboxed screen' });
  await waitForPlaybackProgress(page, 3);
  assert.ok(await page.evaluate((n) => window.livedash.output.framesWritten() > n + 20, framesAtShare), 'screen frames are recorded');
  await screenshot(page, 'screen-share');
  await page.click('#screen');
  await waitInPage(page, () => window.livedash.videoSource === 'camera', null, { what: 'back to the camera' });
  await waitInPage(page, `!(${topStripBlack})()`, null, { what: 'viewers to see the camera again' });
  await waitForPlaybackProgress(page, 2);
  assert.equal(await page.evaluate(() => window.livedash.recorderStarts), 1, 'one recorder for the whole stream');
  assert.equal(await page.evaluate(() => window.livedash.lastError), null);
  assert.equal((await streamEntry('screen')).presentation, presentation, 'the same presentation throughout');
  await stop(page);
  await page.close();
});

test('while live the page sends JPEG thumbnails of at most 64 KB and shows the uptime ticking', async () => {
  const page = await browser.newPage();
  const thumbnails = [];
  page.on('websocket', (socket) => {
    socket.on('framesent', ({ payload }) => {
      if (typeof payload !== 'string' || !payload.includes('"thumbnail"')) return;
      thumbnails.push(JSON.parse(payload));
    });
  });
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  await page.fill('#stream', 'thumbs');
  await page.click('#start');
  await waitInPage(page, live, null, { what: 'live' });
  const first = await waitInPage(page, () => document.getElementById('uptime').textContent, null, { what: 'the uptime' });
  assert.match(first, /^Live for \d:\d\d$/);
  await waitInPage(page, (text) => document.getElementById('uptime').textContent !== text, first, { what: 'the uptime to tick' });
  for (let i = 0; i < 300 && thumbnails.length === 0; i += 1) await new Promise((r) => setTimeout(r, 100));
  assert.ok(thumbnails.length > 0, 'a thumbnail message within 30 s');
  const { type, data } = thumbnails[0];
  assert.equal(type, 'thumbnail');
  assert.ok(data.length <= 64 * 1024, `base64 text of ${data.length} bytes`);
  const jpeg = Buffer.from(data, 'base64');
  assert.deepEqual([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff], 'starts like a JPEG');
  assert.deepEqual([...jpeg.subarray(-2)], [0xff, 0xd9], 'ends like a JPEG');
  assert.ok(jpeg.length > 1000, `a real picture, not an empty one (${jpeg.length} bytes)`);
  await screenshot(page, 'live');
  await stop(page);
  await page.close();
});

// Needs the viewer branch: the server's `viewers` field in /api/streams.
test('the publisher sees how many people watch (needs the viewer branch)', async () => {
  const page = await goLive(browser, server, 'counted');
  await waitInPage(page, live, null, { what: 'live' });
  const viewer = await browser.newPage();
  await viewer.goto(`${server.url}/watch/counted`);
  await waitForPlaybackProgress(viewer, 1);
  const text = await waitInPage(page, () => document.getElementById('viewers').textContent, null,
    { what: 'the viewer count', timeoutMs: 20_000 });
  // At least the viewer page (what else the server counts, e.g. this page's own player, is its choice).
  assert.match(text, /^[1-9]\d* watching now$/);
  await viewer.close();
  await stop(page);
  await page.close();
});

test('keyboard alone: Tab to the stream name, type it, Start with Enter, Tab to Stop and press it', async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  const focused = () => page.evaluate(() => document.activeElement && document.activeElement.id);
  for (let i = 0; i < 20 && await focused() !== 'stream'; i += 1) await page.keyboard.press('Tab');
  assert.equal(await focused(), 'stream', 'the stream name is reachable with Tab');
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.type('by-keys');
  await page.keyboard.press('Enter');
  await waitInPage(page, live, null, { what: 'live after Enter' });
  assert.equal(await page.evaluate(() => window.livedash.recorderStarts), 1);
  // Once around the page: every control is on the Tab path.
  const reached = new Set();
  for (let i = 0; i < 40; i += 1) {
    await page.keyboard.press('Tab');
    reached.add(await focused());
  }
  for (const id of ['codec', 'camera', 'microphone', 'framerate', 'mute', 'camera-off', 'screen', 'stop']) {
    assert.ok(reached.has(id), `#${id} is reachable with Tab (reached: ${[...reached]})`);
  }
  for (let i = 0; i < 40 && await focused() !== 'stop'; i += 1) await page.keyboard.press('Tab');
  assert.equal(await focused(), 'stop', 'Stop is reachable with Tab');
  assert.equal(await page.evaluate(() => document.activeElement.matches(':focus-visible')), true, 'focus is visible');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'the focused control has an outline');
  // Every control has a name a screen reader can say.
  const unnamed = await page.$$eval('input, select, button', (controls) => controls
    .filter((c) => !c.closest('[hidden]') && !(c.labels && c.labels.length) && !c.textContent.trim() && !c.getAttribute('aria-label'))
    .map((c) => c.id));
  assert.deepEqual(unnamed, []);
  assert.equal(await page.getAttribute('#status', 'aria-live'), 'polite');
  await page.keyboard.press('Enter');
  await waitInPage(page, ended, null, { what: 'ended after Enter on Stop' });
  await page.close();
});

test('on a phone-sized screen: one column, no horizontal scroll, big targets, front/rear choice', async (t) => {
  const phone = await launchBrowser({
    contextOptions: { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
  });
  t.after(() => phone.close());
  const page = await phone.newPage();
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  const layout = await page.evaluate(() => {
    const [camera, playback] = [...document.querySelectorAll('.panel')].map((p) => p.getBoundingClientRect());
    return {
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      stacked: playback.top >= camera.bottom && Math.abs(playback.left - camera.left) < 1,
      smallest: Math.min(...[...document.querySelectorAll('button, select, input')]
        .filter((c) => c.offsetParent !== null).map((c) => c.getBoundingClientRect().height)),
    };
  });
  assert.equal(layout.innerWidth, 390);
  assert.ok(layout.scrollWidth <= layout.innerWidth, `no horizontal scroll (${layout.scrollWidth} px wide)`);
  assert.ok(layout.stacked, 'the panels are one column');
  assert.ok(layout.smallest >= 44, `touch targets at least 44 px high (smallest ${layout.smallest})`);
  assert.equal(await page.isVisible('#facing'), true, 'the front/rear choice is shown');
  assert.deepEqual(await page.$$eval('#facing option', (o) => o.map((x) => x.value)), ['user', 'environment']);
  await page.selectOption('#facing', 'environment');
  await waitInPage(page, () => !document.getElementById('status').classList.contains('error')
    && window.livedash.sources.camera.readyState === 'live', null, { what: 'a camera after the facing change' });
  await screenshot(page, 'phone');
});

test('without MediaStreamTrackProcessor (Firefox, Safari) the camera is recorded itself: live, camera off, no switching while live', async () => {
  const page = await browser.newPage();
  await page.addInitScript(() => {
    delete window.MediaStreamTrackProcessor;
    delete window.MediaStreamTrackGenerator;
  });
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  assert.equal(await page.isVisible('#screen'), false, 'no screen share where the recorder could not switch to it');
  await page.fill('#stream', 'fallback');
  await page.click('#start');
  await waitInPage(page, live, null, { what: 'live' });
  assert.equal(await page.isDisabled('#camera'), true, 'the camera is fixed while live');
  await waitForPlaybackProgress(page, 1);
  await page.click('#camera-off');
  await waitInPage(page, playbackIsBlack, null, { what: 'a black picture for viewers' });
  await waitForPlaybackProgress(page, 2);
  assert.equal(await page.evaluate(() => window.livedash.recorderStarts), 1);
  await stop(page);
  await page.close();
});
