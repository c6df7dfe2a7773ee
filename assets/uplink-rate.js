// When the publisher's uplink should record at another bitrate, decided from measurements alone: no
// timers, no sockets, every call is given the time, so it is tested on made-up traces
// (tests/browser/uplink_rate.test.mjs).
//
// The signal is queueing delay, as LEDBAT measures it. For every `received` from the server: how long
// ago the chunk holding the last byte it covers was recorded. The smallest such delay lately is the
// link's own (round trip, the server's acknowledgement interval); what comes on top of it is time spent
// waiting in a queue, which only lasts while the link carries less than the recorder writes. So it
// does not depend on the round trip (a fast link far away is not lowered), and it sees a link that is
// just full (a recorder writing 560 kbit/s into 600, where every keyframe waits behind the one before)
// long before a fixed backlog would. The link is full when, over the last SUSTAIN_MS, even the smallest
// delay stayed QUEUE_LIMIT_MS above the link's own, or the smallest backlog grew by more than
// GROWTH_LIMIT_MS of recording since the SUSTAIN_MS before (a link full from the first byte, whose
// smallest delay is itself already queued).
//
// Then what the server acknowledged per second over that time is what the link carries, and one change
// goes straight to a bitrate whose setting (with the audio) fits LINK_SHARE of it. A raise doubles the
// bitrate (up to the page's) after RAISE_AFTER_MS of calm, but never to one that would not fit what the
// link carried when it was last full, for HOLD_MS; a raise that fills the link within RAISE_AFTER_MS
// doubles that hold (a link that got faster is found again, a slow one is not probed every minute).
//
// API: const rate = createRateControl({ videoBitsPerSecond, audioBitsPerSecond, now });
//   rate.newRecording(at)           a new recording starts: its byte counts start at 0
//   rate.judgeFrom(at)              forget what was seen so far of this recording (e.g. after the bytes
//                                   kept over an outage were delivered): judge again from `at`
//   rate.produced(at, totalBytes)   the recorder wrote a chunk; totalBytes = this recording's bytes so far
//   rate.acknowledged(at, bytes)    the server holds `bytes` of this recording
//   rate.decide(at)                 null, or { videoBitsPerSecond, lowered } to record at from now on
//   rate.revert(at)                 that change could not be made: the recording goes on as it was
//   rate.videoBitsPerSecond()       the bitrate the current recording is made at
//   rate.queueMs(at)                the queueing delay now (ms), for traces; null before it can be judged

/** Queueing delay (ms above the link's own) that means the link is full. */
export const QUEUE_LIMIT_MS = 150;

/** Growth of the smallest backlog (ms of recording) over SUSTAIN_MS that means the link is full: more
 *  than a chunk or two (100 ms each) waiting for an acknowledgement tick (250 ms) can account for. */
const GROWTH_LIMIT_MS = 300;

/** The smallest backlog (ms of recording at the bitrate's setting) a full link holds. */
const LEAST_BACKLOG_MS = 200;

/** How long the link must look full before the bitrate is lowered: a keyframe alone queues briefly,
 *  and the smallest delay over this long is the one of a moment the queue was empty, if it ever was. */
export const SUSTAIN_MS = 1500;

/** The link's own delay is the smallest over this long, so a route that got slower is learnt again. */
const BASE_WINDOW_MS = 30_000;

/** The share of what the link carries that a recording's settings (video + audio) may use: room for
 *  keyframes, several times an average frame, which would otherwise queue behind each other. */
export const LINK_SHARE = 0.7;

/** A lowering goes to at most this share of the bitrate that filled the link. */
const LOWER_AT_MOST = 0.7;

/** The lowest bitrate recorded at: below it the picture is not worth sending. */
export const MIN_VIDEO_BITS_PER_SECOND = 100_000;

/** The first recording's bitrate, as a share of the page's (2.5 Mbit/s → 1 M). The first keyframe
 *  starts the presentation's clock (the MPD's availabilityStartTime), and every viewer stays behind by
 *  however long it took: at 2.5 Mbit/s over a second through 600 kbit/s, at 1 M a third of that. */
export const INITIAL_SHARE = 0.4;

/** Calm (the link never full) this long allows a raise, by this factor. Not "no queue at all": on a
 *  link half used, a keyframe's wait shows as 75–120 ms of queue every few seconds. */
export const RAISE_AFTER_MS = 30_000;
const RAISE_FACTOR = 2;

/** How long what the link carried when it was full caps raises, at first, and at most. A raise past
 *  it is a probe of a link that may have got faster, and on one that has not it costs viewers stalls
 *  (measured: 4 in 12 s, raising 340 k to 680 k on 600 kbit/s), so it is rare. */
export const HOLD_MS = 600_000;
const MOST_HOLD_MS = 3_600_000;

/** Creates the decision state of one publisher's uplink; `now` in milliseconds. */
export function createRateControl({ videoBitsPerSecond, audioBitsPerSecond = 0, now }) {
  const top = videoBitsPerSecond || 2_500_000;
  let bitrate = Math.round(top * INITIAL_SHARE);
  // This recording's chunks from the one holding the last acknowledged byte on: { at, end }.
  let chunks = [];
  // This recording's acknowledgements being judged: { at, delay, acked, produced }.
  let samples = [];
  // Delays over every recording, { at, delay }: the smallest is the link's own.
  let delays = [];
  let produced = 0;
  let judgingSince = now;
  let calmSince = null;
  let raisedAt = null;
  // What the link carried (bytes per second) when it was last full, and when; and how long that holds.
  let capacity = null;
  let holdMs = HOLD_MS;

  function judgeFrom(at) {
    samples = [];
    judgingSince = at;
    calmSince = null;
  }

  function newRecording(at) {
    chunks = [];
    produced = 0;
    judgeFrom(at);
  }

  function recordProduced(at, totalBytes) {
    produced = totalBytes;
    chunks.push({ at, end: totalBytes });
  }

  function recordAcknowledged(at, bytes) {
    while (chunks.length && chunks[0].end < bytes) chunks.shift();
    const covering = chunks[0];
    if (!covering || bytes === 0) return;
    const delay = at - covering.at;
    samples.push({ at, delay, acked: bytes, produced });
    samples = samples.filter((s) => at - s.at <= 2 * SUSTAIN_MS);
    delays.push({ at, delay });
    delays = delays.filter((d) => at - d.at <= BASE_WINDOW_MS);
  }

  /** Whether the link was full over the last SUSTAIN_MS, the queueing delay, and what the link carried
   *  then (bytes per second); null until there is enough to judge. */
  function judge(at) {
    const recent = samples.filter((s) => at - s.at <= SUSTAIN_MS);
    if (at - judgingSince < SUSTAIN_MS || recent.length < 3) return null;
    const base = Math.min(...delays.map((d) => d.delay));
    const queueMs = Math.min(...recent.map((s) => s.delay)) - base;
    // Rates over every sample kept (up to twice SUSTAIN_MS): a keyframe acknowledged at an edge of a
    // short window would count as if the link had carried it in that time.
    const first = samples[0];
    const last = samples.at(-1);
    const seconds = (last.at - first.at) / 1000;
    // Acknowledgements held up and then handled at once say nothing of a rate.
    if (seconds < SUSTAIN_MS / 2000) return null;
    const made = (last.produced - first.produced) / seconds;
    const carried = (last.acked - first.acked) / seconds;
    // The smallest backlog of each window, so a keyframe waiting its turn is not growth.
    const earlier = samples.filter((s) => at - s.at > SUSTAIN_MS);
    const leastBacklog = (of) => Math.min(...of.map((s) => s.produced - s.acked));
    const grew = earlier.length >= 3 ? leastBacklog(recent) - leastBacklog(earlier) : 0;
    const growing = made > 0 && grew > (made * GROWTH_LIMIT_MS) / 1000;
    // A link is not full of a recording smaller than a fifth of a second at its setting (a black
    // picture, a muted microphone): what queues then is the page or the machine being slow.
    const leastBytes = ((bitrate + audioBitsPerSecond) / 8) * (LEAST_BACKLOG_MS / 1000);
    const big = leastBacklog(recent) >= leastBytes;
    return { full: big && (queueMs > QUEUE_LIMIT_MS || growing), queueMs, carried };
  }

  function decide(at) {
    const judged = judge(at);
    if (judged === null) return null;
    const { full, carried } = judged;
    if (full && carried > 0 && bitrate > MIN_VIDEO_BITS_PER_SECOND) {
      capacity = { rate: carried, at };
      if (raisedAt !== null && at - raisedAt < RAISE_AFTER_MS) holdMs = Math.min(2 * holdMs, MOST_HOLD_MS);
      const fitting = LINK_SHARE * carried * 8 - audioBitsPerSecond;
      const next = Math.max(MIN_VIDEO_BITS_PER_SECOND, Math.min(fitting, LOWER_AT_MOST * bitrate));
      return change(roundBitrate(next), at);
    }
    if (full) calmSince = null;
    else calmSince ??= at;
    if (capacity !== null && at - capacity.at >= holdMs) capacity = null;
    const up = Math.min(top, roundBitrate(bitrate * RAISE_FACTOR));
    const fits = capacity === null || (up + audioBitsPerSecond) / 8 <= LINK_SHARE * capacity.rate;
    if (up > bitrate && fits && calmSince !== null && at - calmSince >= RAISE_AFTER_MS) return change(up, at);
    return null;
  }

  // The bitrate before the last change, in case the change can't be made.
  let previous = null;

  /** Decides a change. The old recording may still record until the new one starts (a raise opens its
   *  socket first), so its chunks stay known; newRecording comes when the new recorder starts. */
  function change(next, at) {
    const lowered = next < bitrate;
    previous = { bitrate, raisedAt };
    raisedAt = lowered ? null : at;
    bitrate = next;
    judgeFrom(at);
    return { videoBitsPerSecond: next, lowered };
  }

  /** The last change could not be made (its socket failed to open): the recording goes on as it was. */
  function revert(at) {
    if (previous === null) return;
    ({ bitrate, raisedAt } = previous);
    previous = null;
    judgeFrom(at);
  }

  return {
    newRecording,
    judgeFrom,
    revert,
    produced: recordProduced,
    acknowledged: recordAcknowledged,
    decide,
    videoBitsPerSecond: () => bitrate,
    queueMs: (at) => judge(at)?.queueMs ?? null,
  };
}

/** Bitrates in steps of 10 kbit/s, as people read them. */
function roundBitrate(bitsPerSecond) {
  return Math.round(bitsPerSecond / 10_000) * 10_000;
}
