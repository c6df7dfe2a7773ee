// A camera for Chromium's --use-file-for-fake-video-capture that costs what a real webcam costs to
// encode. Chromium's own fake camera is a flat drawing: its H.264 recorder writes ~410 kbit/s of it
// whatever the page asks for, so a 600 kbit/s uplink is no bottleneck. A webcam's sensor adds grain to
// every frame; this file is still colour bars (a room) with fresh grain every frame, which the recorder
// writes at ~1.4 Mbit/s when asked for 2.5 Mbit/s and follows down (~580 k at 1 M, ~280 k at 400 k).
// Written as a Y4M file (raw 4:2:0 frames; Chromium loops it), in-process: no ffmpeg CLI.
import { randomFillSync } from 'node:crypto';
import { existsSync, mkdirSync, openSync, writeSync, closeSync, renameSync } from 'node:fs';
import { join } from 'node:path';

const WIDTH = 640;
const HEIGHT = 480;
const FPS = 30;

/** 75 % colour bars (white, yellow, cyan, green, magenta, red, blue) as BT.601 Y, U, V. */
const BARS = [[180, 128, 128], [162, 44, 142], [131, 156, 44], [112, 72, 58], [84, 184, 198], [65, 100, 212], [35, 212, 114]];

/** The grain: each luma sample moves by up to this much either way, afresh every frame. */
const GRAIN = 10;

/** Writes (once) `seconds` of the noisy camera into `dir` and returns the file's path. */
export function noisyCameraFile(dir, seconds = 4) {
  const file = join(dir, `noisy-camera-${seconds}s.y4m`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const partial = `${file}.part`;
  const fd = openSync(partial, 'w');
  try {
    writeSync(fd, `YUV4MPEG2 W${WIDTH} H${HEIGHT} F${FPS}:1 Ip A1:1 C420jpeg\n`);
    const plane = WIDTH * HEIGHT;
    const bars = Buffer.alloc(plane * 1.5);
    for (let y = 0; y < HEIGHT; y += 1) {
      for (let x = 0; x < WIDTH; x += 1) bars[y * WIDTH + x] = BARS[Math.floor((x * BARS.length) / WIDTH)][0];
    }
    for (let y = 0; y < HEIGHT / 2; y += 1) {
      for (let x = 0; x < WIDTH / 2; x += 1) {
        const [, u, v] = BARS[Math.floor((x * 2 * BARS.length) / WIDTH)];
        bars[plane + y * (WIDTH / 2) + x] = u;
        bars[plane * 1.25 + y * (WIDTH / 2) + x] = v;
      }
    }
    const noise = Buffer.alloc(plane);
    const frame = Buffer.alloc(bars.length);
    for (let i = 0; i < seconds * FPS; i += 1) {
      randomFillSync(noise);
      bars.copy(frame);
      for (let p = 0; p < plane; p += 1) frame[p] = bars[p] + (noise[p] % (2 * GRAIN + 1)) - GRAIN;
      writeSync(fd, 'FRAME\n');
      writeSync(fd, frame);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(partial, file);
  return file;
}
