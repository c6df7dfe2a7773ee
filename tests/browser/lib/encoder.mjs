// The ffmpeg CLI as an RTMP encoder (what OBS or a hardware encoder would be): a test pattern and a
// tone, H.264 (x264, zerolatency) + AAC, at real-time pace.
import { spawn } from 'node:child_process';

/**
 * Publishes to `url` for `seconds`, 30 fps with a keyframe every `gop` frames. With `clockAt` (a
 * `Date.now()` taken just before), each frame carries its nominal capture time as a burnt-in UTC
 * clock (HH:MM:SS.mmm), for comparing screenshots by eye.
 */
export function rtmpEncoder(url, { seconds = 30, gop = 30, clockAt = null } = {}) {
  let video = 'testsrc2=size=640x360:rate=30';
  if (clockAt !== null) {
    const offset = ((clockAt % 86_400_000) / 1000).toFixed(3);
    video += `,drawtext=text='%{pts\\:hms\\:${offset}}':fontsize=40:fontcolor=white:box=1:boxcolor=black:x=20:y=20`;
  }
  const child = spawn('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'warning', '-re',
    '-f', 'lavfi', '-i', video, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', String(gop),
    '-c:a', 'aac', '-f', 'flv', url,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (data) => { log += data; });
  return { child, log: () => log, stop: () => child.kill('SIGKILL') };
}
