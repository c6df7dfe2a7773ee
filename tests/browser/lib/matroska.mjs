// Reads what a MediaRecorder wrote (WebM/Matroska, unknown-size segment and clusters) to count its video
// frames and their timestamps: the measure a recording livedash made from it is compared against.
const SEGMENT = 0x18538067;
const CLUSTER = 0x1f43b675;
const TRACKS = 0x1654ae6b;
const TRACK_ENTRY = 0xae;
const TRACK_NUMBER = 0xd7;
const TRACK_TYPE = 0x83;
const CLUSTER_TIMESTAMP = 0xe7;
const SIMPLE_BLOCK = 0xa3;
const BLOCK_GROUP = 0xa0;
const BLOCK = 0xa1;
const MASTERS = new Set([SEGMENT, CLUSTER, TRACKS, TRACK_ENTRY, BLOCK_GROUP]);

/** A variable-length integer at `at`: its value (marker bit removed unless `keepMarker`) and length. */
function vint(buffer, at, keepMarker) {
  const first = buffer[at];
  let length = 1;
  while (length <= 8 && !(first & (0x80 >> (length - 1)))) length += 1;
  if (length > 8) throw new Error(`bad EBML number at ${at}`);
  let value = keepMarker ? first : first & (0xff >> length);
  let allOnes = value === (0xff >> length);
  for (let i = 1; i < length; i += 1) {
    value = value * 256 + buffer[at + i];
    allOnes = allOnes && buffer[at + i] === 0xff;
  }
  return { value, length, unknown: !keepMarker && allOnes };
}

const uint = (buffer, start, end) => { let v = 0; for (let i = start; i < end; i += 1) v = v * 256 + buffer[i]; return v; };

/** Video frames in a recorder's output: their count and timestamps in milliseconds (1 ms timescale). */
export function readRecorderVideo(buffer) {
  let videoTrack = null;
  let trackNumber = null;
  let trackType = null;
  let clusterTime = 0;
  const timestamps = [];
  let at = 0;
  while (at < buffer.length) {
    const id = vint(buffer, at, true);
    const size = vint(buffer, at + id.length, false);
    const start = at + id.length + size.length;
    // Masters (and every unknown-size element) are entered; the rest are skipped or read.
    if (MASTERS.has(id.value) || size.unknown) {
      if (id.value === TRACK_ENTRY) { trackNumber = null; trackType = null; }
      at = start;
      continue;
    }
    const end = start + size.value;
    if (end > buffer.length) break;
    if (id.value === TRACK_NUMBER) trackNumber = uint(buffer, start, end);
    if (id.value === TRACK_TYPE) trackType = uint(buffer, start, end);
    if (trackNumber !== null && trackType === 1 && videoTrack === null) videoTrack = trackNumber;
    if (id.value === CLUSTER_TIMESTAMP) clusterTime = uint(buffer, start, end);
    if (id.value === SIMPLE_BLOCK || id.value === BLOCK) {
      const track = vint(buffer, start, false);
      if (track.value === videoTrack) timestamps.push(clusterTime + buffer.readInt16BE(start + track.length));
    }
    at = end;
  }
  return { frames: timestamps.length, timestamps };
}
