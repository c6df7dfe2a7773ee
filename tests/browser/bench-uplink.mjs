// Uplink benchmark: the publisher page reaches livedash through a shaping proxy (default 600 kbit/s up,
// 100 ms each way; the kernel has no netem) with the page's default recorder bitrate above that. Every
// 2 s it prints glass-to-glass (measured in the page, as bench-latency.mjs does), the recorder's video
// bitrate, bytes not yet acknowledged, the player's buffer and speed, and stalls of the page's own
// player; at the end, when latency got back under 2 s for good and how many stalls came after that.
//
// The camera: Chromium's own fake camera (`--camera fake`) is a flat drawing that records only ~410
// kbit/s at the page's 2.5 Mbit/s, so a 600 kbit/s link would not be a bottleneck for it. By default
// (`--camera noisy`) the browser's camera is lib/noisy-camera.mjs's file (under target/bench-uplink/):
// colour bars with a webcam sensor's grain, which costs what a real webcam costs to encode.
//
// With --trace it also prints a timeline: the publisher's sockets opening and closing (each change of
// bitrate is a new one), the player's waits, seeks and jumps to live, with the playback position and
// what each SourceBuffer (audio, video) holds around it, and the player's errors.
//
// Usage: node tests/browser/bench-uplink.mjs [--seconds 60] [--kbit 600] [--delay-ms 100]
//          [--camera noisy|fake] [--trace] [-- livedash flags]
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, CHROMIUM_PATH } from './lib/chromium.mjs';
import { startServer, LIVEDASH_BIN } from './lib/server.mjs';
import { startProxy } from './lib/proxy.mjs';
import { waitInPage } from './lib/pages.mjs';
import { noisyCameraFile } from './lib/noisy-camera.mjs';

const argv = process.argv.slice(2);
const split = argv.indexOf('--');
const own = split >= 0 ? argv.slice(0, split) : argv;
const serverFlags = split >= 0 ? argv.slice(split + 1) : [];
const option = (name, fallback) => {
  const i = own.indexOf(name);
  return i >= 0 ? own[i + 1] : fallback;
};
const seconds = Number(option('--seconds', 60));
const kbit = Number(option('--kbit', 600));
const delayMs = Number(option('--delay-ms', 100));
const camera = option('--camera', 'noisy');
const trace = own.includes('--trace');
/** The goal: glass-to-glass under this, within 10 s, and kept there. */
const GOAL_SECONDS = 2;

if (!['noisy', 'fake'].includes(camera)) throw new Error(`--camera is noisy or fake, not ${camera}`);
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

const chromium = execFileSync(CHROMIUM_PATH, ['--version']).toString().trim();
console.log(`livedash uplink benchmark: ${kbit} kbit/s up, ${delayMs} ms each way, ${seconds} s, ${camera} camera; `
  + `${LIVEDASH_BIN} ${serverFlags.join(' ')}`);
console.log(`machine: ${cpus().length} × ${cpus()[0].model}, ${chromium}; load average ${load()}\n`);

const server = await startServer(serverFlags);
const proxy = await startProxy(server.url, { uploadKbitPerSecond: kbit, delayMs });
const browser = await launchBrowser(camera === 'noisy'
  ? { fakeVideoFile: noisyCameraFile(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'target', 'bench-uplink')) } : {});
try {
  const page = await browser.newPage();
  // Counts what the recorders produce, for the bitrate actually recorded.
  await page.addInitScript(() => {
    window.recordedBytes = 0;
    // The timeline for --trace: [ms since page start, what happened].
    window.benchTimeline = [];
    const note = (what) => window.benchTimeline.push([performance.now(), what]);
    window.benchNote = note;
    const sourceBuffers = [];
    const addSourceBuffer = MediaSource.prototype.addSourceBuffer;
    MediaSource.prototype.addSourceBuffer = function add(type) {
      const buffer = addSourceBuffer.call(this, type);
      sourceBuffers.push([type.split('/')[0], buffer]);
      return buffer;
    };
    const ranges = (r) => Array.from({ length: r.length }, (_, i) => `${r.start(i).toFixed(2)}-${r.end(i).toFixed(2)}`).join(' ');
    window.benchPosition = () => {
      const video = document.getElementById('playback');
      let held = '';
      try {
        held = sourceBuffers.map(([kind, b]) => `${kind} [${ranges(b.buffered)}]`).join(' ');
      } catch { held = '(source buffers gone)'; }
      return `at ${video.currentTime.toFixed(2)}, buffered [${ranges(video.buffered)}] ${held}`;
    };
    document.addEventListener('DOMContentLoaded', () => {
      const video = document.getElementById('playback');
      for (const name of ['waiting', 'playing', 'seeking', 'seeked']) {
        video.addEventListener(name, () => note(`video ${name} ${window.benchPosition()}`));
      }
      // Frames shown: a step of more than 0.15 s in media time is a hole (or a seek) between them.
      let last = null;
      const frame = (_, { mediaTime }) => {
        if (last !== null && Math.abs(mediaTime - last) > 0.15) note(`frames jump from ${last.toFixed(3)} to ${mediaTime.toFixed(3)}`);
        last = mediaTime;
        video.requestVideoFrameCallback(frame);
      };
      video.requestVideoFrameCallback(frame);
    });
    const Socket = window.WebSocket;
    window.WebSocket = class extends Socket {
      constructor(...args) {
        super(...args);
        if (!String(args[0]).includes('/ws/publish/')) return;
        note('publisher socket opening');
        this.addEventListener('open', () => note('publisher socket open'));
        this.addEventListener('close', () => note('publisher socket closed'));
        // What this recording's server holds (its `received`), for the rate timeline.
        window.benchAcked = 0;
        this.addEventListener('message', (event) => {
          try {
            const message = JSON.parse(event.data);
            if (message.type === 'received' && this === window.benchSocket) window.benchAcked = message.bytes;
          } catch { /* not JSON: not ours to judge */ }
        });
        window.benchSocket = this;
      }
    };
    // Every 250 ms: this recording's bytes made and held by the server, for the rate timeline.
    window.benchRecording = 0;
    window.benchRates = [];
    setInterval(() => window.benchRates.push([performance.now(), window.benchRecording, window.benchAcked,
      window.livedash?.uploadQueueMs]), 250);
    const Recorder = window.MediaRecorder;
    window.MediaRecorder = class extends Recorder {
      constructor(...args) {
        super(...args);
        window.benchRecording = 0;
        this.addEventListener('dataavailable', (event) => {
          window.recordedBytes += event.data.size;
          window.benchRecording += event.data.size;
        });
      }
    };
  });
  await page.goto(`${proxy.url}/`);
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  await page.fill('#stream', 'bench-uplink');
  await page.click('#start');
  await page.evaluate(() => {
    const video = document.getElementById('playback');
    window.benchStalls = [];
    video.addEventListener('waiting', () => {
      if (window.livedash.firstFrameAt !== null) window.benchStalls.push(performance.now());
    });
    // Glass-to-glass every 100 ms, for when it got under the goal between two printed rows.
    window.benchLatency = [];
    setInterval(() => window.benchLatency.push([performance.now(), window.livedash.latency()]), 100);
  });
  await waitInPage(page, () => window.livedash.firstFrameAt !== null, null, { what: 'the first played frame', timeoutMs: 60_000 });
  const clicked = await page.evaluate(() => window.livedash.clickedAt);
  // The player's own jumps to live (a hole, a missing segment, drift): wrapped on the instance.
  await page.evaluate(() => {
    const { player } = window.livedash;
    if (!player.seekToOriginalLive) return;
    const seek = player.seekToOriginalLive.bind(player);
    player.seekToOriginalLive = () => {
      window.benchNote(`player seekToOriginalLive from ${window.benchPosition()}, latency ${player.getCurrentLiveLatency().toFixed(2)} target ${player.getTargetLiveDelay().toFixed(2)}`);
      seek();
    };
    player.on('playbackSeeking', (e) => window.benchNote(`dash.js seeking to ${e.seekTime?.toFixed?.(2)}`));
    player.on('error', (e) => window.benchNote(`dash.js error ${JSON.stringify(e.error?.message ?? e.error?.code)} ${e.error?.data?.request?.url ?? ''}`));
  });
  console.log('   t (s)   glass-to-glass (s)   recorder setting kbit/s   recorded kbit/s   not at server KB   buffer (s)   speed   player latency (s)   stalls');
  let lastBytes = 0;
  let lastT = 0;
  const rows = [];
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2000));
    const row = await page.evaluate((clickedAt) => ({
      t: (performance.now() - clickedAt) / 1000,
      latency: window.livedash.latency(),
      kbit: (window.livedash.videoBitsPerSecond || 0) / 1000,
      recorded: window.recordedBytes,
      unacked: (window.livedash.uploadBacklog || 0) / 1024,
      stalls: window.benchStalls.map((at) => (at - clickedAt) / 1000),
      buffer: (() => {
        const video = document.getElementById('playback');
        const { buffered } = video;
        return buffered.length ? buffered.end(buffered.length - 1) - video.currentTime : 0;
      })(),
      speed: document.getElementById('playback').playbackRate,
      // What the player itself believes (dash.js: from the MPD's clock), which steers its catch-up.
      playerLatency: window.livedash.player?.getCurrentLiveLatency?.() ?? NaN,
    }), clicked);
    rows.push(row);
    const recordedKbit = ((row.recorded - lastBytes) * 8) / 1000 / (row.t - lastT);
    [lastBytes, lastT] = [row.recorded, row.t];
    console.log(`${row.t.toFixed(1).padStart(8)}   ${(row.latency ?? NaN).toFixed(2).padStart(18)}   `
      + `${row.kbit.toFixed(0).padStart(23)}   ${recordedKbit.toFixed(0).padStart(15)}   ${row.unacked.toFixed(0).padStart(16)}   `
      + `${row.buffer.toFixed(2).padStart(10)}   ${row.speed.toFixed(2).padStart(5)}   ${row.playerLatency.toFixed(2).padStart(18)}   ${String(row.stalls.length).padStart(6)}`);
  }
  // From when on latency stayed under the goal (in the printed rows, and in the 100 ms samples), and
  // the stalls after that.
  const underFrom = (samples) => {
    let since = null;
    for (const [t, latency] of samples) {
      if (latency !== null && latency < GOAL_SECONDS) since ??= t;
      else since = null;
    }
    return since;
  };
  const since = underFrom(rows.map((row) => [row.t, row.latency]));
  const fine = underFrom((await page.evaluate(() => window.benchLatency)).map(([at, latency]) => [(at - clicked) / 1000, latency]));
  const stalls = rows.at(-1).stalls;
  const after = (from) => (from === null ? stalls.length : stalls.filter((at) => at > from).length);
  console.log(`\nunder ${GOAL_SECONDS} s for good from t = ${since === null ? 'never' : `${since.toFixed(1)} s`}; `
    + `stalls ${stalls.length} in all, ${after(since)} after that; last glass-to-glass ${rows.at(-1).latency?.toFixed(2)} s; `
    + `load average ${load()}`);
  console.log(`sampled every 0.1 s: under ${GOAL_SECONDS} s for good from t = ${fine === null ? 'never' : `${fine.toFixed(1)} s`}, `
    + `${after(fine)} stalls after that`);
  console.log(`stalls at t = ${stalls.map((at) => at.toFixed(1)).join(', ') || '-'} s`);
  if (trace) {
    console.log('\ntimeline (t in s since the click; the video\'s own times are presentation seconds):');
    for (const [at, what] of await page.evaluate(() => window.benchTimeline)) {
      console.log(`${((at - clicked) / 1000).toFixed(2).padStart(8)}  ${what}`);
    }
    // Rates over the last second (kbit/s) of the current recording: what the recorder made and what
    // the server acknowledged, and the backlog between them; a new recording restarts both counts.
    console.log('\nrates (t s, made kbit/s, acknowledged kbit/s, backlog KB, queueing delay ms as uplink-rate.js judges it), every 0.5 s:');
    const rates = await page.evaluate(() => window.benchRates);
    for (let i = 4; i < rates.length; i += 2) {
      const [at, made, acked, queueMs] = rates[i];
      const [, madeBefore, ackedBefore] = rates[i - 4];
      if (at < clicked || made < madeBefore) continue;
      const perSecond = (bytes) => ((bytes * 8) / 1000 / ((at - rates[i - 4][0]) / 1000)).toFixed(0);
      console.log(`${((at - clicked) / 1000).toFixed(2).padStart(8)}  ${perSecond(made - madeBefore).padStart(6)}  `
        + `${perSecond(acked - ackedBefore).padStart(6)}  ${((made - acked) / 1024).toFixed(1).padStart(7)}  `
        + `${queueMs == null ? '-' : queueMs.toFixed(0)}`.padStart(6));
    }
  }
  await page.click('#stop');
} finally {
  await browser.close();
  await proxy.close();
  await server.stop();
}
