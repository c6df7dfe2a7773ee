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
// Usage: node tests/browser/bench-latency.mjs [--seconds 30] [--out DIR] [--only h264|vp9|vp8|hls] [-- server flags]
import { cpus } from 'node:os';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launchBrowser, CHROMIUM_PATH } from './lib/chromium.mjs';
import { startServer, LIVEDASH_BIN } from './lib/server.mjs';
import { waitInPage } from './lib/pages.mjs';

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
].filter((s) => !only || s.key === only);

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function run(scenario) {
  // Flags given on the command line replace the scenario's own.
  const scenarioFlags = serverFlags.includes('--latency') ? [] : scenario.flags;
  const server = await startServer([...scenarioFlags, ...serverFlags]);
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/${scenario.query ?? ''}`);
    await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
    await page.fill('#stream', `bench-${scenario.key}`);
    await page.selectOption('#codec', scenario.format);
    await page.click('#start');
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
      const latency = await page.evaluate(() => window.livedash.latency());
      if (latency !== null) samples.push(latency);
    }
    const atShot = await page.evaluate(() => window.livedash.latency());
    const screenshot = join(outDir, `${scenario.key}.png`);
    await page.screenshot({ path: screenshot });
    const stalls = await page.evaluate(() => window.benchStalls);
    const info = await page.evaluate(() => {
      const player = window.livedash.player;
      return player.name === 'hls.js'
        ? { player: 'hls.js', lowLatency: player.hls.config.lowLatencyMode, target: player.hls.targetLatency ?? NaN }
        : { player: 'dash.js', lowLatency: player.getLowLatencyModeEnabled(), target: player.getTargetLiveDelay() };
    });
    await page.click('#stop');
    samples.sort((a, b) => a - b);
    return {
      name: scenario.name, firstFrame, median: percentile(samples, 0.5), p95: percentile(samples, 0.95),
      stalls: stalls.count, stallSeconds: stalls.seconds, samples: samples.length, atShot, screenshot, ...info,
    };
  } finally {
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
console.log('\nClock cross-check: each screenshot shows the camera preview and the playback with the fake camera\'s burnt-in clock;');
for (const r of rows) console.log(`  ${r.screenshot}: in-page latency when taken ${r.atShot.toFixed(2)} s`);
