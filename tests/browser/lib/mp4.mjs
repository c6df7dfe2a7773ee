// Reads a finished presentation's fragmented-MP4 (CMAF) video track back from the media folder: how
// many frames it holds and its timeline (each fragment's start and the samples' durations), to prove
// that nothing was lost and that the timeline has no gap. Only the boxes livedash's muxer writes.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

function* boxes(buffer, start = 0, end = buffer.length) {
  let at = start;
  while (at + 8 <= end) {
    let size = buffer.readUInt32BE(at);
    const type = buffer.toString('latin1', at + 4, at + 8);
    let header = 8;
    if (size === 1) {
      size = Number(buffer.readBigUInt64BE(at + 8));
      header = 16;
    } else if (size === 0) {
      size = end - at;
    }
    if (size < header || at + size > end) throw new Error(`bad ${type} box at ${at}`);
    yield { type, start: at + header, end: at + size };
    at += size;
  }
}

const child = (buffer, box, type) => [...boxes(buffer, box.start, box.end)].find((b) => b.type === type);

/** The video track of an init segment: its id, timescale and default sample duration. */
function videoTrack(init) {
  const moov = [...boxes(init)].find((b) => b.type === 'moov');
  const defaults = new Map();
  const mvex = child(init, moov, 'mvex');
  for (const trex of mvex ? [...boxes(init, mvex.start, mvex.end)].filter((b) => b.type === 'trex') : []) {
    defaults.set(init.readUInt32BE(trex.start + 4), init.readUInt32BE(trex.start + 12));
  }
  for (const trak of [...boxes(init, moov.start, moov.end)].filter((b) => b.type === 'trak')) {
    const tkhd = child(init, trak, 'tkhd');
    const id = init.readUInt32BE(tkhd.start + (init[tkhd.start] === 1 ? 20 : 12));
    const mdia = child(init, trak, 'mdia');
    const hdlr = child(init, mdia, 'hdlr');
    if (init.toString('latin1', hdlr.start + 8, hdlr.start + 12) !== 'vide') continue;
    const mdhd = child(init, mdia, 'mdhd');
    const timescale = init.readUInt32BE(mdhd.start + (init[mdhd.start] === 1 ? 20 : 12));
    return { id, timescale, defaultDuration: defaults.get(id) || 0 };
  }
  throw new Error('no video track in the init segment');
}

/** Fragments of a media segment: each one's decode time and its samples' durations (track timescale). */
function fragments(segment, track) {
  const found = [];
  for (const moof of [...boxes(segment)].filter((b) => b.type === 'moof')) {
    for (const traf of [...boxes(segment, moof.start, moof.end)].filter((b) => b.type === 'traf')) {
      const tfhd = child(segment, traf, 'tfhd');
      if (segment.readUInt32BE(tfhd.start + 4) !== track.id) continue;
      const tfhdFlags = segment.readUInt32BE(tfhd.start) & 0xffffff;
      let at = tfhd.start + 8;
      if (tfhdFlags & 0x1) at += 8;
      if (tfhdFlags & 0x2) at += 4;
      const defaultDuration = tfhdFlags & 0x8 ? segment.readUInt32BE(at) : track.defaultDuration;
      const tfdt = child(segment, traf, 'tfdt');
      const decodeTime = segment[tfdt.start] === 1 ? Number(segment.readBigUInt64BE(tfdt.start + 4)) : segment.readUInt32BE(tfdt.start + 4);
      const durations = [];
      for (const trun of [...boxes(segment, traf.start, traf.end)].filter((b) => b.type === 'trun')) {
        const flags = segment.readUInt32BE(trun.start) & 0xffffff;
        const count = segment.readUInt32BE(trun.start + 4);
        let p = trun.start + 8 + (flags & 0x1 ? 4 : 0) + (flags & 0x4 ? 4 : 0);
        for (let i = 0; i < count; i += 1) {
          durations.push(flags & 0x100 ? segment.readUInt32BE(p) : defaultDuration);
          p += [0x100, 0x200, 0x400, 0x800].filter((f) => flags & f).length * 4;
        }
      }
      found.push({ decodeTime, durations });
    }
  }
  return found;
}

/**
 * The video track of the finished presentation in `dir`: `frames`, `seconds` (the timeline's length),
 * `largestGapSeconds` (the largest jump between where one fragment ends and the next one starts) and
 * `longestFrameSeconds` (a pause in the recording shows as one frame lasting until the next).
 */
export function readVideoTimeline(dir) {
  const names = readdirSync(dir);
  const init = names.find((n) => /^init-.*\.(mp4|m4s)$/.test(n) && videoTrackOrNull(join(dir, n)));
  if (!init) throw new Error(`no video init segment in ${names.join(' ')}`);
  const track = videoTrack(readFileSync(join(dir, init)));
  const representation = init.replace(/^init-[^-]+-/, '').replace(/\.[^.]+$/, '');
  const chunks = names.filter((n) => n.startsWith('chunk-') && n.includes(`-${representation}-`) && !n.endsWith('.tmp')).sort();
  let frames = 0;
  let first = null;
  let end = null;
  let largestGap = 0;
  let longestSample = 0;
  for (const name of chunks) {
    for (const { decodeTime, durations } of fragments(readFileSync(join(dir, name)), track)) {
      if (first === null) first = decodeTime;
      if (end !== null) largestGap = Math.max(largestGap, Math.abs(decodeTime - end));
      const length = durations.reduce((a, b) => a + b, 0);
      longestSample = Math.max(longestSample, ...durations);
      frames += durations.length;
      end = decodeTime + length;
    }
  }
  const seconds = (value) => value / track.timescale;
  return { frames, seconds: seconds(end - first), largestGapSeconds: seconds(largestGap), longestFrameSeconds: seconds(longestSample) };
}

function videoTrackOrNull(path) {
  try {
    return videoTrack(readFileSync(path));
  } catch {
    return null;
  }
}
