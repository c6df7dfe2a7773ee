// Records the shapes Chromium's MediaRecorder produces into tests/fixtures/recorder/.
// Run: node tests/browser/record-fixtures.mjs [seconds] [only-this-file]
// The fake camera draws a running timer; bitrates are kept low so fixtures stay small.
import { createServer } from 'node:http';
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from './lib/chromium.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, '..', 'fixtures', 'recorder');
const defaultSeconds = Number(process.argv[2] || 4);
const only = process.argv[3];

// [file name, requested mimeType, constraints, options]
const SHAPES = [
  // A longer stream with the publisher page's keyframe interval, for live and low-latency tests.
  ['h264-opus-10s.mkv', 'video/webm;codecs=h264,opus', { video: true, audio: true }, { seconds: 10, keyframeMs: 2000, timesliceMs: 100 }],
  ['h264-opus.mkv', 'video/webm;codecs=h264,opus', { video: true, audio: true }],
  ['vp8-opus.webm', 'video/webm;codecs=vp8,opus', { video: true, audio: true }],
  ['vp9-opus.webm', 'video/webm;codecs=vp9,opus', { video: true, audio: true }],
  ['h264-opus.mp4', 'video/mp4;codecs=avc1,opus', { video: true, audio: true }],
  ['vp9-opus.mp4', 'video/mp4;codecs=vp9,opus', { video: true, audio: true }],
  ['h264.mkv', 'video/webm;codecs=h264', { video: true, audio: false }],
  ['vp8.webm', 'video/webm;codecs=vp8', { video: true, audio: false }],
  ['opus.webm', 'audio/webm;codecs=opus', { video: false, audio: true }],
  ['opus.mp4', 'audio/mp4;codecs=opus', { video: false, audio: true }],
  // A codec livedash refuses (uncompressed audio) inside a container it accepts.
  ['pcm.webm', 'audio/webm;codecs=pcm', { video: false, audio: true }, { seconds: 1 }],
];

const server = createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end('<!doctype html><title>recorder</title>');
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://localhost:${server.address().port}/`;

const browser = await launchBrowser();
const page = await browser.newPage();
await page.goto(url);
mkdirSync(outDir, { recursive: true });

for (const [name, mimeType, constraints, options = {}] of SHAPES) {
  if (only && name !== only) continue;
  const seconds = options.seconds || defaultSeconds;
  const keyframeMs = options.keyframeMs || 1000;
  const timesliceMs = options.timesliceMs || 250;
  const result = await page.evaluate(async ({ mimeType, constraints, seconds, keyframeMs, timesliceMs }) => {
    if (!MediaRecorder.isTypeSupported(mimeType)) return { unsupported: true };
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    const recorder = new MediaRecorder(stream, {
      mimeType,
      videoBitsPerSecond: 400_000,
      audioBitsPerSecond: 32_000,
      videoKeyFrameIntervalDuration: keyframeMs,
    });
    const chunks = [];
    recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
    const stopped = new Promise((r) => { recorder.onstop = r; });
    recorder.start(timesliceMs);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    recorder.stop();
    await stopped;
    stream.getTracks().forEach((t) => t.stop());
    const blob = new Blob(chunks);
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return { actualType: recorder.mimeType, chunks: chunks.map((c) => c.size), base64: btoa(binary) };
  }, { mimeType, constraints, seconds, keyframeMs, timesliceMs });
  if (result.unsupported) { console.log(`${name}: ${mimeType} unsupported`); continue; }
  const data = Buffer.from(result.base64, 'base64');
  writeFileSync(join(outDir, name), data);
  console.log(`${name}: asked ${mimeType}, got ${result.actualType}, ${data.length} bytes in ${result.chunks.length} chunks (${result.chunks.slice(0, 6).join(',')}...)`);
}
await browser.close();
server.close();
