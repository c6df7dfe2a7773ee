// The uplink's bitrate decisions (assets/uplink-rate.js), on simulated links: a recorder writing chunks
// every 100 ms with a keyframe each second, a link that serialises them at its rate and delays them,
// and a server that acknowledges what it holds every 250 ms. No browser: the decisions are pure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRateControl, HOLD_MS, MIN_VIDEO_BITS_PER_SECOND } from '../../assets/uplink-rate.js';

const PAGE_BITRATE = 2_500_000;
const AUDIO = 64_000;

/**
 * Runs `seconds` of a publisher on a link of `kbit` kbit/s and `oneWayMs` each way (`kbitAt(t)` may
 * change it over time) and returns the changes the rate control asked for, with their times (s).
 * The recorder writes `written` of its video setting (webcam-like recorders write about half), plus
 * audio; every tenth chunk holds a keyframe three times the size of the others.
 */
function simulate({ kbit, kbitAt = () => kbit, oneWayMs, seconds, written = 0.55 }) {
  const rate = createRateControl({ videoBitsPerSecond: PAGE_BITRATE, audioBitsPerSecond: AUDIO, now: 0 });
  const changes = [];
  let recording = 0;
  let produced = 0;
  let linkFreeAt = 0;
  let arrived = []; // [arrival time, end byte, recording]
  let acks = []; // [arrival time at the client, bytes, recording]
  let chunkIndex = 0;
  for (let t = 0; t <= seconds * 1000; t += 10) {
    if (t % 100 === 0) {
      const perSecond = (rate.videoBitsPerSecond() * written + AUDIO) / 8;
      const share = chunkIndex % 10 === 0 ? 3 / 12 : 1 / 12;
      const size = Math.round(perSecond * share);
      chunkIndex += 1;
      produced += size;
      rate.produced(t, produced);
      const start = Math.max(t, linkFreeAt);
      linkFreeAt = start + (size * 8) / kbitAt(t / 1000);
      arrived.push([linkFreeAt + oneWayMs, produced, recording]);
    }
    // The server's acknowledgement tick, off the recorder's phase.
    if (t % 250 === 30) {
      const held = arrived.filter(([at, , of]) => at <= t && of === recording).map(([, end]) => end);
      if (held.length) acks.push([t + oneWayMs, Math.max(...held), recording]);
      arrived = arrived.filter(([at]) => at > t);
    }
    for (const [, bytes] of acks.filter(([at, , of]) => at <= t && of === recording)) rate.acknowledged(t, bytes);
    acks = acks.filter(([at]) => at > t);
    if (t % 500 === 0) {
      const change = rate.decide(t);
      if (change) {
        changes.push({ at: t / 1000, ...change });
        // A new recording on a new connection: the old one's queue is gone with it.
        rate.newRecording(t);
        recording += 1;
        produced = 0;
        chunkIndex = 0;
        linkFreeAt = t;
      }
    }
  }
  return changes;
}

test('a link that keeps up is never lowered, near or far, and is raised after calm', () => {
  for (const oneWayMs of [5, 100, 300]) {
    const changes = simulate({ kbit: 20_000, oneWayMs, seconds: 100 });
    assert.ok(changes.every((c) => !c.lowered), `${oneWayMs} ms: ${JSON.stringify(changes)}`);
    assert.deepEqual(changes.map((c) => c.videoBitsPerSecond), [2_000_000, 2_500_000], `${oneWayMs} ms`);
    assert.ok(changes[0].at >= 30 && changes[0].at < 35, JSON.stringify(changes));
  }
});

test('a link with room for keyframes is not lowered', () => {
  // 1 M writes 550 k + 64 k audio: 77 % of 800 kbit/s.
  const changes = simulate({ kbit: 800, oneWayMs: 100, seconds: 29 });
  assert.deepEqual(changes, []);
});

test('a link 10 % too slow is lowered within seconds to a bitrate that fits it, and not raised into it again', () => {
  // 1 M writes 600 k + 64 k audio into 600 kbit/s: every keyframe waits behind the one before.
  const changes = simulate({ kbit: 600, oneWayMs: 100, seconds: 100, written: 0.6 });
  assert.ok(changes.length >= 1 && changes[0].lowered, JSON.stringify(changes));
  assert.ok(changes[0].at <= 5, `lowered at ${changes[0].at} s`);
  // Its settings fit 70 % of what the link carried, measured within a few per cent.
  assert.ok(changes[0].videoBitsPerSecond + AUDIO <= 0.75 * 600_000, JSON.stringify(changes));
  assert.equal(changes.length, 1, `no raise while the link's measure holds: ${JSON.stringify(changes)}`);
});

test('a link far too slow from the first byte is lowered at once, down to the floor if need be', () => {
  const changes = simulate({ kbit: 150, oneWayMs: 50, seconds: 30 });
  assert.ok(changes[0].lowered && changes[0].at <= 4, JSON.stringify(changes));
  assert.ok(changes.every((c) => c.lowered), JSON.stringify(changes));
  assert.equal(changes.at(-1).videoBitsPerSecond, MIN_VIDEO_BITS_PER_SECOND, JSON.stringify(changes));
});

test('a link that got faster is found again after the hold, and a raise that fills it holds twice as long', () => {
  // Slow for the first minute, then fast: raised once the first measure is older than the hold.
  const faster = simulate({ kbit: 600, kbitAt: (t) => (t < 60 ? 600 : 20_000), oneWayMs: 50, seconds: 700 });
  const firstRaise = faster.find((c) => !c.lowered);
  assert.ok(firstRaise, JSON.stringify(faster));
  const lowering = faster[0];
  assert.ok(firstRaise.at >= lowering.at + HOLD_MS / 1000, JSON.stringify(faster));
  // Slow all along: a raise after the hold that fills the link is lowered again at once, and the next
  // raise waits twice the hold.
  const slow = simulate({ kbit: 600, oneWayMs: 50, seconds: 2000 });
  const filled = slow.findIndex((c, i) => !c.lowered && slow[i + 1]?.lowered && slow[i + 1].at - c.at < 5);
  assert.ok(filled >= 0, JSON.stringify(slow));
  const [loweredAgain, nextRaise] = [slow[filled + 1], slow[filled + 2]];
  assert.ok(nextRaise && !nextRaise.lowered, JSON.stringify(slow));
  assert.ok(nextRaise.at - loweredAgain.at >= (2 * HOLD_MS) / 1000, JSON.stringify(slow));
});

/**
 * Feeds `rate` a calm recording on a link far away (every 100 ms a chunk of `chunkBytes`, acknowledged
 * 400 ms later at the next 250 ms tick) from `from` to `to` ms, asking `decide` every 500 ms; stops at
 * the first change `onDecision` keeps (returns truthy). Returns that change's time, or null.
 */
function calmRecording(rate, { from, to, chunkBytes, onDecision }) {
  let produced = 0;
  const written = [];
  for (let t = from; t <= to; t += 50) {
    if (t % 100 === 0) {
      produced += chunkBytes;
      written.push([t, produced]);
      rate.produced(t, produced);
    }
    if (t % 250 === 0) {
      const held = written.filter(([at]) => at <= t - 400).at(-1);
      if (held) rate.acknowledged(t, held[1]);
    }
    if (t % 500 === 0 && onDecision(rate.decide(t), t)) return { at: t, produced };
  }
  return null;
}

/** Runs `rate` calm until it raises; returns when, the bytes written, and the change. */
function calmUntilRaise(rate) {
  let change = null;
  const raised = calmRecording(rate, { from: 0, to: 40_000, chunkBytes: 7000, onDecision: (c) => (change = c) });
  assert.ok(raised, 'a raise within 40 s of calm');
  return { ...raised, change };
}

test("a raise's old recording, still acknowledged while the new socket opens, is not mistaken for the new one", () => {
  // Until the new recorder starts, the old one writes and is acknowledged as before; none of that may
  // count as the link's own delay (which would make the new recording look queued: a false "full").
  const rate = createRateControl({ videoBitsPerSecond: PAGE_BITRATE, audioBitsPerSecond: AUDIO, now: 0 });
  const raise = calmUntilRaise(rate);
  assert.equal(raise.change.lowered, false);
  let { produced } = raise;
  // 400 ms more of the old recording while the socket opens, then the new one from byte 0.
  for (let t = raise.at + 50; t <= raise.at + 400; t += 50) {
    if (t % 100 === 0) rate.produced(t, (produced += 7000));
    if (t % 250 === 0) rate.acknowledged(t, produced - 7000 * 4);
  }
  const start = raise.at + 400;
  rate.newRecording(start);
  calmRecording(rate, {
    from: start,
    to: start + 10_000,
    chunkBytes: 14_000,
    onDecision: (change, t) => assert.equal(change, null, `no change at ${t - start} ms into the new recording`),
  });
});

test('a change that could not be made is taken back', () => {
  const rate = createRateControl({ videoBitsPerSecond: PAGE_BITRATE, audioBitsPerSecond: AUDIO, now: 0 });
  const raise = calmUntilRaise(rate);
  assert.equal(rate.videoBitsPerSecond(), raise.change.videoBitsPerSecond);
  rate.revert(raise.at + 300);
  assert.equal(rate.videoBitsPerSecond(), 1_000_000);
});
