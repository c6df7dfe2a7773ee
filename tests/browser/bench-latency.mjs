// Latency benchmark: headless Chromium's fake camera through the publisher page, for each scenario.
// Prints click → first frame, glass-to-glass median / p95 and stalls, and saves a screenshot per
// scenario so the camera's burnt-in clocks (preview vs playback) can be compared by eye.
//
// Glass-to-glass is measured in the page: time since the recorder started minus the player's
// currentTime (livedash rebases the presentation to start at 0 at the first recorded frame).
//
// The `hls` scenario plays the publisher's own stream back with hls.js in low-latency mode (`/?player=hls`:
// LL-HLS parts of the same CMAF chunks) instead of dash.js.
//
// The `rtmp` scenario has the ffmpeg CLI as the encoder (test pattern + tone, x264 zerolatency + AAC,
// a keyframe every second, 1 s segments) publishing over RTMP, and the viewer page /watch/NAME playing
// with dash.js. Glass-to-glass is the time since ffmpeg generated frame 0 (T0, from its progress
// reports; frame N is generated at T0 + N/fps under -re) minus the player's currentTime. Counting
// from ffmpeg's launch instead would add its own start-up (0.2 s idle, 2 s with Chromium loading a page
// on two cores), before any frame exists: that was the RTMP figure's missing 1.5 s. Each frame carries
// the UTC time it was generated as a burnt-in clock, so the screenshot checks the figure independently.
//
// Usage: node tests/browser/bench-latency.mjs [--seconds 30] [--out DIR] [--only h264|vp9|vp8|hls|rtmp] [-- server flags]
import { cpus } from 'node:os';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, CHROMIUM_PATH } from './lib/chromium.mjs';
import { startServer, LIVEDASH_BIN } from './lib/server.mjs';
import { waitInPage } from './lib/pages.mjs';
import { rtmpEncoder } from './lib/encoder.mjs';

const argv = process.argv.slice(2);
const split = argv.indexOf('--');
const own = split >= 0 ? argv.slice(0, split) : argv;
const serverFlags = split >= 0 ? argv.slice(split + 1) : [];
const option = (name, fallback) => {
  const i = own.indexOf(name);
  return i >= 0 ? own[i + 1] : fallback;
};
const seconds = Number(option('--seconds', 30));
const outDir = option('--out', '/tmp/livedash-bench');
const only = option('--only', null);
mkdirSync(outDir, { recursive: true });

const SCENARIOS = [
  { key: 'h264', name: 'H.264 + Opus, low latency', format: 'video/webm;codecs=h264,opus', flags: ['--latency', 'low'] },
  { key: 'vp9', name: 'VP9 + Opus, low latency', format: 'video/webm;codecs=vp9,opus', flags: ['--latency', 'low'] },
  { key: 'vp8', name: 'VP8 + Opus, normal', format: 'video/webm;codecs=vp8,opus', flags: ['--latency', 'low'] },
  { key: 'hls', name: 'H.264 + Opus, LL-HLS (hls.js)', format: 'video/webm;codecs=h264,opus', flags: ['--latency', 'low'], query: '?player=hls' },
  { key: 'rtmp', name: 'RTMP H.264 + AAC (ffmpeg), 1 s GOP', rtmp: true, flags: ['--latency', 'low', '--segment-duration', '1'] },
].filter((s) => !only || s.key === only);

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** The publisher page records the fake camera; it keeps `window.livedash` with the latency. */
async function startPublisherPage(page, server, scenario) {
  await page.goto(`${server.url}/${scenario.query ?? ''}`);
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  await page.fill('#stream', `bench-${scenario.key}`);
  await page.selectOption('#codec', scenario.format);
  await page.click('#start');
}

/**
 * ffmpeg publishes over RTMP and the viewer page plays; the page is given what the bench reads from
 * the publisher page: `clickedAt` (ffmpeg's launch), `firstFrameAt`, and `window.benchLatency()`.
 */
async function startEncoder(page, server, stream, seconds) {
  const startedAt = Date.now();
  const encoder = rtmpEncoder(`${server.rtmpUrl}/${stream}`, { seconds: seconds + 60, gop: 30, clock: true });
  encoder.startedAt = startedAt;
  await page.goto(`${server.url}/watch/${stream}`);
  await page.evaluate((startedAt) => {
    const video = document.getElementById('playback');
    const state = window.livedash;
    state.clickedAt = performance.now() - (Date.now() - startedAt);
    state.firstFrameAt = null;
    // Set (and refined) from ffmpeg's progress by the sampling loop: when frame 0 was generated.
    state.captureZero = null;
    video.addEventListener('playing', () => { state.firstFrameAt ??= performance.now(); });
    // Not `state.latency`: the viewer page keeps its own (server-clock) figure there.
    window.benchLatency = () => (state.firstFrameAt === null || state.captureZero === null
      ? null : (Date.now() - state.captureZero) / 1000 - video.currentTime);
  }, startedAt);
  return encoder;
}

/** Hands the encoder's latest estimate of when frame 0 was generated to the page. */
async function shareCaptureZero(page, encoder) {
  if (encoder) await page.evaluate((zero) => { window.livedash.captureZero = zero; }, encoder.captureZero());
}

async function run(scenario) {
  // Flags given on the command line replace the scenario's own.
  const scenarioFlags = serverFlags.includes('--latency') ? [] : scenario.flags;
  const server = await startServer([...scenarioFlags, ...serverFlags]);
  const browser = await launchBrowser();
  let encoder = null;
  try {
    const page = await browser.newPage();
    if (scenario.rtmp) {
      encoder = await startEncoder(page, server, `bench-${scenario.key}`, seconds);
    } else {
      await startPublisherPage(page, server, scenario);
      await page.evaluate(() => { window.benchLatency = () => window.livedash.latency(); });
    }
    // Count stalls as the video element reports them once playing: `waiting` after the first frame.
    await page.evaluate(() => {
      const video = document.getElementById('playback');
      window.benchStalls = { count: 0, seconds: 0, since: null };
      video.addEventListener('waiting', () => {
        if (window.livedash.firstFrameAt === null || window.benchStalls.since !== null) return;
        window.benchStalls.count += 1;
        window.benchStalls.since = performance.now();
      });
      video.addEventListener('playing', () => {
        if (window.benchStalls.since === null) return;
        window.benchStalls.seconds += (performance.now() - window.benchStalls.since) / 1000;
        window.benchStalls.since = null;
      });
    });
    await waitInPage(page, () => window.livedash.firstFrameAt !== null, null, { what: 'the first played frame' });
    const firstFrame = await page.evaluate(() => (window.livedash.firstFrameAt - window.livedash.clickedAt) / 1000);
    const samples = [];
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      await shareCaptureZero(page, encoder);
      const latency = await page.evaluate(() => window.benchLatency());
      if (latency !== null) samples.push(latency);
    }
    await shareCaptureZero(page, encoder);
    const atShot = await page.evaluate(() => window.benchLatency());
    const screenshot = join(outDir, `${scenario.key}.png`);
    const shotAt = new Date().toISOString().slice(11, 23);
    await page.screenshot({ path: screenshot });
    const stalls = await page.evaluate(() => window.benchStalls);
    const info = await page.evaluate(() => {
      const player = window.livedash.player;
      return player.name === 'hls.js'
        ? { player: 'hls.js', lowLatency: player.hls.config.lowLatencyMode, target: player.hls.targetLatency ?? NaN }
        : { player: 'dash.js', lowLatency: player.getLowLatencyModeEnabled(), target: player.getTargetLiveDelay() };
    });
    if (!scenario.rtmp) await page.click('#stop');
    samples.sort((a, b) => a - b);
    const encoderStartup = encoder ? (encoder.captureZero() - encoder.startedAt) / 1000 : null;
    return {
      encoderStartup,
      name: scenario.name, firstFrame, median: percentile(samples, 0.5), p95: percentile(samples, 0.95),
      stalls: stalls.count, stallSeconds: stalls.seconds, samples: samples.length, atShot, shotAt, screenshot, ...info,
    };
  } finally {
    encoder?.stop();
    await browser.close();
    await server.stop();
  }
}

const chromium = execFileSync(CHROMIUM_PATH, ['--version']).toString().trim();
console.log(`livedash latency benchmark: ${seconds} s per scenario, server ${LIVEDASH_BIN} ${serverFlags.join(' ')}`);
console.log(`machine: ${cpus().length} × ${cpus()[0].model}, ${chromium}\n`);
const rows = [];
for (const scenario of SCENARIOS) rows.push(await run(scenario));
const pad = (text, n) => String(text).padEnd(n);
console.log(`${pad('scenario', 32)}${pad('click→first frame', 19)}${pad('glass-to-glass median', 23)}${pad('p95', 8)}${pad('stalls', 14)}player mode`);
for (const r of rows) {
  console.log(`${pad(r.name, 32)}${pad(`${r.firstFrame.toFixed(2)} s`, 19)}${pad(`${r.median.toFixed(2)} s`, 23)}${pad(`${r.p95.toFixed(2)} s`, 8)}` +
    `${pad(`${r.stalls} (${r.stallSeconds.toFixed(1)} s)`, 14)}${r.player} ${r.lowLatency ? 'low latency' : 'normal'}, target ${r.target.toFixed(2)} s`);
}
console.log('\nClock cross-check: each screenshot shows the camera preview and the playback with the fake camera\'s burnt-in clock');
console.log('(rtmp: the playback only, its clock the UTC time ffmpeg generated the frame; compare it with the time the screenshot was taken);');
for (const r of rows) console.log(`  ${r.screenshot}: taken ${r.shotAt} UTC, in-page latency then ${r.atShot.toFixed(2)} s`);
for (const r of rows.filter((row) => row.encoderStartup !== null)) {
  console.log(`${r.name}: ffmpeg generated its first frame ${r.encoderStartup.toFixed(2)} s after it was launched (not counted above).`);
}
