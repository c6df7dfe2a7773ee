// The ffmpeg CLI as an RTMP encoder (what OBS or a hardware encoder would be): a test pattern and a
// tone, H.264 (x264, zerolatency) + AAC, at real-time pace.
import { spawn } from 'node:child_process';

/**
 * Publishes to `url` for `seconds`, 30 fps with a keyframe every `gop` frames.
 *
 * With `clock`, each frame carries the UTC time (HH:MM:SS.mmm) at which ffmpeg generated it, burnt in
 * (`setpts=RTCTIME` before `drawtext`, then the frame's own timestamp back; checked: frame N's clock
 * minus N / fps stays within 35 ms of `captureZero()` over the run), and `captureZero()` tells
 * when frame 0 was generated, in `Date.now()` milliseconds: under `-re` ffmpeg reads frame N at
 * T0 + N / fps, so every progress report (at wall time W, output time X) bounds T0 from above by
 * W - X, and the smallest bound is within a few milliseconds of it. Neither counts ffmpeg's own
 * start-up (process, filters, x264, the RTMP handshake: 0.2 s on an idle machine, 2 s and more on a
 * busy one), during which no frame exists yet.
 */
export function rtmpEncoder(url, { seconds = 30, gop = 30, clock = false } = {}) {
  let video = 'testsrc2=size=640x360:rate=30';
  if (clock) {
    const midnight = Math.floor(Date.now() / 86_400_000) * 86_400;
    video += ',settb=1/1000,setpts=RTCTIME/1000' +
      `,drawtext=text='%{pts\\:hms\\:-${midnight}}':fontsize=40:fontcolor=white:box=1:boxcolor=black:x=20:y=20` +
      ',setpts=N/(FRAME_RATE*TB)';
  }
  const progress = clock ? ['-progress', 'pipe:1', '-stats_period', '0.05'] : [];
  // With two inputs ffmpeg reads each on its own thread into a queue (8 packets by default), so the
  // pattern would be drawn up to 0.27 s before `-re` lets the frame through: a queue of one keeps each
  // clock within a frame of the time the frame reaches the encoder.
  const queue = clock ? ['-thread_queue_size', '1'] : [];
  const child = spawn('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'warning', ...progress, '-re',
    ...queue, '-f', 'lavfi', '-i', video, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', String(gop),
    '-c:a', 'aac', '-f', 'flv', url,
  ], { stdio: ['ignore', clock ? 'pipe' : 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (data) => { log += data; });
  let captureZero = null;
  let pending = '';
  child.stdout?.on('data', (data) => {
    const now = Date.now();
    pending += data;
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) {
      const match = /^out_time_us=(\d+)$/.exec(line.trim());
      if (!match) continue;
      const bound = now - Number(match[1]) / 1000;
      captureZero = captureZero === null ? bound : Math.min(captureZero, bound);
    }
  });
  return { child, log: () => log, captureZero: () => captureZero, stop: () => child.kill('SIGKILL') };
}
