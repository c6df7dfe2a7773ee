// The publisher's connection to the server: one WebSocket to /ws/publish/{stream} and the MediaRecorder
// whose bytes it carries. The page (publish.js) decides what is recorded and shows what happens; this
// module only moves bytes and reports the server's messages, so the connection logic (adaptive bitrate,
// resume after a drop) can change without touching the page.
//
// API:
//   const uplink = startUplink({
//     stream, token,                 // stream id; publish token or '' (sent as ?token=)
//     mediaStream,                   // what to record; its track set must not change while recording
//     mimeType, videoBitsPerSecond, audioBitsPerSecond, keyFrameIntervalMs, timesliceMs,
//     onRecorderStarted(),           // the first recorder runs and `start` was sent (timing for the latency figure)
//     onAccepted(message),           // server said `accepted`: bytes may flow; message.watchUrl is the link
//     onManifestReady(message),      // server said `manifest_ready`: message.manifestUrl plays
//     onEnded(message),              // server said `ended` (message.durationSeconds)
//     onError(message),              // server said `error` ({code, message})
//     onFailed(sentence),            // the recorder or the server's messages failed here; the socket is closed
//     onClosed({ code, reason }),    // the socket closed without `ended`, `error` or onFailed
//     onFinished(),                  // the socket closed, for whatever reason (after the callbacks above)
//     onBacklog(bytes, behind),      // every 500 ms: bytes the server does not hold yet; behind = more
//                                    // than ~1 s of recording
//     onBitrate({ videoBitsPerSecond, lowered }), // the uplink could not keep up (lowered) or has room
//                                    // again: a new recording at this bitrate continues the presentation
//     onReconnecting({ attempt, delayMs }), // the connection dropped; recording goes on, reconnecting
//     onResumed({ bytes }),          // the server took the recording back at byte `bytes`: nothing lost
//     onFellBack(sentence),          // the server could not resume (not_resumable) and accepted a new
//                                    // recording in its place (a short gap for viewers); instead of onAccepted
//   });
//   uplink.stop();                   // stop recording; the last chunk and `stop` follow, then `ended`
//   uplink.sendText(object);         // a JSON text message (e.g. a thumbnail); false if the socket isn't open
//   uplink.backlogBytes();           // bytes the server does not hold yet (kept here or in flight)
//   uplink.mimeType();               // the container the recorder really writes, once it started
//   uplink.unacknowledgedBytes();    // recorder bytes kept until the server says it holds them
//   uplink.videoBitsPerSecond();     // the bitrate the recorder records at now
//
// Zero-loss resume: every recorder byte is kept until the server's `received` says it holds it. When the
// socket drops (not after `ended`/`error`/stop), the recorder keeps recording, and this module reconnects
// by itself with backoff, sends {"type":"resume","resumeToken":...} and, on `accepted` with `bytes: N`,
// sends the recording from byte N on. A `not_resumable` answer starts a new recording the older way.
//
// An uplink that adapts: bytes wait in this module, not in the socket (at most SOCKET_BUFFER_BYTES are
// handed to it), so what the link can't carry can still be dropped. When more than BEHIND_SECONDS of
// recording is not at the server for two checks running, the recording is replaced by a new one at the
// highest lower bitrate of the ladder that fits in LINK_SHARE of what the server acknowledged per second
// (the old socket closes; its unsent tail is dropped, so latency comes back at once; the server continues
// the presentation with the new recording). The first recording starts one step below the top
// (INITIAL_LEVEL). After RAISE_AFTER_MS without a backlog it tries the next higher bitrate, unless that
// is more than the link carried when it last fell behind (for BLOCK_MS); a bitrate that fell behind
// right after a raise is not tried again for BLOCK_MS.

import { socketUrl } from './player.js';

/** How often the page hears about the upload backlog. */
const BACKLOG_REPORT_MS = 500;

/** Seconds of video the browser may hold unsent before the page is told the uplink is behind. */
const BACKLOG_BEHIND_SECONDS = 1;

/** Waits between reconnect attempts after a drop: quick at first, then backing off. Their sum (~9 s)
 *  stays inside the server's default reconnect grace (10 s), after which nothing can be resumed. */
const RECONNECT_DELAYS_MS = [250, 500, 1000, 1500, 2000, 2000, 2000];

/** At most this many bytes wait in the socket's own buffer (which can't be taken back). */
const SOCKET_BUFFER_BYTES = 64 * 1024;

/** How often queued bytes are offered to the socket (it has no event for "buffer drained"). */
const PUMP_MS = 50;

/** Seconds of recording not yet at the server that mean the uplink can't keep up. */
const BEHIND_SECONDS = 0.75;

/** The video bitrates tried, as fractions of the page's own (2.5 Mbit/s → 1 M, 400 k, 200 k). */
const LADDER = [1, 0.4, 0.16, 0.08];

/** The step the first recording starts at (1 Mbit/s). The presentation's clock (the MPD's
 *  availabilityStartTime) starts when the first frame reaches the server, and however fast the link
 *  turns out to be, every viewer stays that much further behind for the whole presentation: at 2.5
 *  Mbit/s the first keyframe alone took over a second through a 600 kbit/s uplink (glass-to-glass
 *  never under 2 s); at 1 Mbit/s it is about a third of that. A fast link is raised after RAISE_AFTER_MS. */
const INITIAL_LEVEL = 1;

/** The share of the link's measured capacity a recording's bitrate setting may use: room for
 *  keyframes, which are several times the average frame and would otherwise make every segment arrive
 *  late (recorders mostly write below their setting, which leaves more). */
const LINK_SHARE = 0.8;

/** How long the backlog kept over an outage may take to drain after a resume before it counts. */
const DRAIN_MS = 5000;

/** A backlog this small (seconds) counts as calm, and calm this long allows a higher bitrate. */
const CALM_SECONDS = 0.2;
const RAISE_AFTER_MS = 30_000;

/** A raise that falls behind within RAISE_AFTER_MS blocks that bitrate this long. */
const BLOCK_MS = 120_000;

/** Opens the socket, records `mediaStream` once it is open, and reports through the callbacks. */
export function startUplink(options) {
  const {
    stream, token, mediaStream, mimeType, videoBitsPerSecond, audioBitsPerSecond, keyFrameIntervalMs, timesliceMs,
  } = options;
  const on = (name, ...args) => { if (options[name]) options[name](...args); };
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  const url = socketUrl(`/ws/publish/${encodeURIComponent(stream)}${query}`);
  let socket = null;
  let recorder = null;
  // Set once the server or this module gave the last word, so the close is not reported as a surprise.
  let ended = false;
  let failed = false;
  // The recording as this page holds it: chunks not yet acknowledged, each with its byte offset.
  let pending = [];
  let produced = 0;
  let acknowledged = 0;
  let resumeToken = null;
  // Whether this socket may carry media now: after `start`, or after a resumed `accepted`.
  let flowing = false;
  // The user asked to stop: once the recorder's last chunk is sent, `stop` follows.
  let stopping = false;
  let recorderDone = false;
  let manifestReported = false;
  let attempt = 0;
  let reconnectTimer = null;
  // Bytes of this recording handed to the socket, and whether `stop` followed them.
  let sent = 0;
  let stopSent = false;
  let acceptedOnce = false;
  // The current socket's recording was accepted: until then unacknowledged bytes say nothing of the link.
  let acceptedNow = false;
  // After a resume, the bytes kept over the outage are being delivered: not a sign of a slow link
  // (dropping them would lose what resuming saved), for up to DRAIN_MS.
  let draining = null;
  let recorderStartedOnce = false;
  // Recent production, to say how many seconds of recording the backlog is: [time, produced total].
  let rateSample = { at: performance.now(), bytes: 0, rate: 0 };
  // What the link carried recently (bytes the server acknowledged per second): its capacity, when behind.
  let ackSample = { at: performance.now(), bytes: 0, rate: 0, last: 0 };
  // Adaptation: the ladder's step, consecutive checks behind, since when calm, blocked steps.
  let level = INITIAL_LEVEL;
  // What the link carried (bytes per second) when it last fell behind, and when: a step above that is
  // not tried again until the measurement is older than BLOCK_MS (the link may have got faster).
  let capacity = null;
  let behindChecks = 0;
  let calmSince = null;
  let raisedAt = null;
  const blockedUntil = new Map();
  const bitrate = () => Math.round((videoBitsPerSecond || 2_500_000) * LADDER[level]);
  // Why the last resume was refused, until the new recording that replaces it is accepted.
  let fellBackBecause = null;

  connect(null);

  /** Opens a socket; `resumeWith` is the token to resume with, or null for a new recording. */
  function connect(resumeWith) {
    flowing = false;
    acceptedNow = false;
    draining = null;
    socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => {
      if (resumeWith) socket.send(JSON.stringify({ type: 'resume', resumeToken: resumeWith }));
      else startRecording();
    };
    socket.onmessage = (event) => onMessage(event.data);
    socket.onclose = (event) => onClose(event);
  }

  function onMessage(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      fail('The server sent a message this page cannot read; stopping. Reload the page and try again.');
      return;
    }
    if (message.type === 'accepted') onAccepted(message);
    else if (message.type === 'received') acknowledge(message.bytes);
    else if (message.type === 'manifest_ready') {
      if (!manifestReported) on('onManifestReady', message);
      manifestReported = true;
    } else if (message.type === 'ended') { ended = true; on('onEnded', message); }
    else if (message.type === 'error' && message.code === 'not_resumable') fallBack(message);
    else if (message.type === 'error') { ended = true; on('onError', message); }
  }

  function onAccepted(message) {
    attempt = 0;
    acceptedNow = true;
    behindChecks = 0;
    if (message.resumeToken) resumeToken = message.resumeToken;
    if (!message.resumed && fellBackBecause) {
      on('onFellBack', fellBackBecause);
      fellBackBecause = null;
      return;
    }
    if (!message.resumed) {
      // After a change of bitrate the page already knows the stream is accepted.
      if (!acceptedOnce) on('onAccepted', message);
      acceptedOnce = true;
      return;
    }
    acknowledge(message.bytes);
    draining = { until: produced, since: performance.now() };
    // The recording continues from exactly the byte the server holds.
    sent = message.bytes;
    stopSent = false;
    flowing = true;
    on('onResumed', { bytes: message.bytes });
    pump();
  }

  /** Hands queued bytes to the socket while its own buffer is small; `stop` after the last of them. */
  function pump() {
    if (!flowing || socket.readyState !== WebSocket.OPEN) return;
    for (const chunk of pending) {
      if (socket.bufferedAmount >= SOCKET_BUFFER_BYTES) return;
      const end = chunk.offset + chunk.data.size;
      if (end <= sent) continue;
      const skip = sent - chunk.offset;
      socket.send(skip > 0 ? chunk.data.slice(skip) : chunk.data);
      sent = end;
    }
    if (recorderDone && sent === produced && !stopSent) {
      stopSent = true;
      socket.send(JSON.stringify({ type: 'stop' }));
    }
  }

  /** The server holds `bytes` bytes: drop what it has. */
  function acknowledge(bytes) {
    if (typeof bytes !== 'number' || bytes < acknowledged) return;
    acknowledged = bytes;
    while (pending.length && pending[0].offset + pending[0].data.size <= acknowledged) pending.shift();
  }

  function onClose(event) {
    flowing = false;
    // Until `ended`, the recording (or its tail and `stop`, after the user stopped) can still be delivered.
    if (resumeToken && !ended && !failed && attempt < RECONNECT_DELAYS_MS.length) {
      const delayMs = RECONNECT_DELAYS_MS[attempt];
      attempt += 1;
      on('onReconnecting', { attempt, delayMs });
      reconnectTimer = setTimeout(() => connect(resumeToken), delayMs);
      return;
    }
    clearInterval(backlogTimer);
    clearInterval(pumpTimer);
    stopRecording();
    if (!ended && !failed) on('onClosed', { code: event.code, reason: event.reason });
    on('onFinished');
  }

  /** The server can't resume: the kept bytes are of no use; a new recording starts the older way. */
  function fallBack(message) {
    resumeToken = null;
    pending = [];
    produced = 0;
    acknowledged = 0;
    dropRecorder();
    const socketNow = socket;
    socketNow.onclose = null;
    socketNow.close();
    fellBackBecause = message.message;
    // The new recording may be a new presentation (the old one ended): its manifest_ready is news.
    manifestReported = false;
    if (stopping) {
      ended = true;
      clearInterval(backlogTimer);
      clearInterval(pumpTimer);
      on('onFinished');
      return;
    }
    connect(null);
  }

  /** Stops the recorder, dropping what it still had: a new recording replaces it. */
  function dropRecorder() {
    const old = recorder;
    recorder = null;
    if (old && old.state !== 'inactive') {
      old.ondataavailable = null;
      old.onstop = null;
      old.stop();
    }
  }

  /** Replaces the recording with one at the ladder's step `next`: the old socket closes (the server
   *  keeps the presentation for the next recording) and a new one starts when it has closed. */
  function changeBitrate(next) {
    const lowered = next > level;
    const now = performance.now();
    if (lowered && raisedAt !== null && now - raisedAt < RAISE_AFTER_MS) blockedUntil.set(level, now + BLOCK_MS);
    raisedAt = lowered ? null : now;
    level = next;
    behindChecks = 0;
    calmSince = null;
    dropRecorder();
    pending = [];
    produced = 0;
    acknowledged = 0;
    sent = 0;
    resumeToken = null;
    flowing = false;
    const old = socket;
    old.onmessage = null;
    old.onclose = () => connect(null);
    old.close();
    on('onBitrate', { videoBitsPerSecond: bitrate(), lowered });
  }

  /** Every backlog report: lowers the bitrate when the uplink can't keep up, raises it after calm. */
  function adapt(backlogSeconds) {
    if (!flowing || stopping || !acceptedNow) return;
    const now = performance.now();
    if (draining && (acknowledged >= draining.until || now - draining.since > DRAIN_MS)) draining = null;
    if (draining) return;
    behindChecks = backlogSeconds > BEHIND_SECONDS ? behindChecks + 1 : 0;
    if (behindChecks >= 2 && level < LADDER.length - 1) {
      // Behind for a second: the link was full, so what it carried is its capacity (the average
      // lags behind a link that just got slower; the last half second alone may have been a pause).
      capacity = { rate: Math.max(ackSample.rate, ackSample.last), at: now };
      changeBitrate(stepFitting(capacity.rate));
      return;
    }
    if (backlogSeconds > CALM_SECONDS) calmSince = null;
    else calmSince ??= now;
    const tooBig = capacity !== null && now - capacity.at < BLOCK_MS && setting(level - 1) > LINK_SHARE * capacity.rate;
    const blocked = tooBig || (blockedUntil.get(level - 1) || 0) > now;
    if (level > 0 && calmSince !== null && now - calmSince > RAISE_AFTER_MS && !blocked) changeBitrate(level - 1);
  }

  /** The highest lower step whose recording should fit in LINK_SHARE of what the link carried
   *  (`capacity`, bytes per second); the lowest step if none does. The recorder writes at most its
   *  setting, and no more than it writes now. */
  function stepFitting(carried) {
    for (let step = level + 1; step < LADDER.length; step += 1) {
      if (Math.min(setting(step), rateSample.rate) <= LINK_SHARE * carried) return step;
    }
    return LADDER.length - 1;
  }

  /** Bytes per second the recorder may write at the ladder's `step` (video and audio settings). */
  function setting(step) {
    return ((videoBitsPerSecond || 2_500_000) * LADDER[step] + (audioBitsPerSecond || 0)) / 8;
  }

  function startRecording() {
    const recorderOptions = {
      mimeType,
      videoBitsPerSecond: bitrate(),
      audioBitsPerSecond,
      // One keyframe per segment: without it Chromium uses 100 frames and segments come out 3–6 s long.
      videoKeyFrameIntervalDuration: keyFrameIntervalMs,
    };
    try {
      recorder = new MediaRecorder(mediaStream, recorderOptions);
    } catch (error) {
      fail(`This browser could not record ${mimeType}: ${error.message}. Pick another format.`);
      return;
    }
    const own = recorder;
    recorder.onerror = (event) => {
      fail(`Recording stopped with an error: ${(event.error && event.error.message) || 'unknown error'}. Click Start to try again.`);
    };
    recorder.ondataavailable = (event) => {
      if (!event.data.size || own !== recorder) return;
      pending.push({ offset: produced, data: event.data });
      produced += event.data.size;
      pump();
      // Stop was asked for while the recording was being replaced: end this one as soon as it has
      // produced something (a recording with no bytes can't be opened).
      if (stopping && own.state === 'recording') own.stop();
    };
    // The last chunk arrives before `stop`: only then is the presentation complete.
    recorder.onstop = () => {
      recorderDone = true;
      pump();
    };
    try {
      recorder.start(timesliceMs);
    } catch (error) {
      fail(`The recorder could not start: ${error.message}. Pick another format or reload the page.`);
      return;
    }
    // The presentation's clock starts with the first recorder; later ones continue it.
    if (!recorderStartedOnce) on('onRecorderStarted');
    recorderStartedOnce = true;
    // Chromium reports the real container once recording starts (e.g. video/x-matroska for H.264).
    socket.send(JSON.stringify({ type: 'start', mimeType: recorder.mimeType }));
    sent = 0;
    stopSent = false;
    recorderDone = false;
    flowing = true;
  }

  /** Recording can't go on: say why and close the socket (the server keeps what it has). */
  function fail(sentence) {
    failed = true;
    clearTimeout(reconnectTimer);
    on('onFailed', sentence);
    stopRecording();
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close();
  }

  function stopRecording() {
    stopping = true;
    if (recorder && recorder.state !== 'inactive') recorder.stop();
  }

  const backlogBytes = () => produced - acknowledged;
  const pumpTimer = setInterval(pump, PUMP_MS);
  const backlogTimer = setInterval(() => {
    const bytes = backlogBytes();
    // The recorder may write far less than its setting (a still picture): judge by what it writes.
    const now = performance.now();
    const made = produced - rateSample.bytes;
    if (made >= 0 && now > rateSample.at) {
      const rate = (made / (now - rateSample.at)) * 1000;
      rateSample = { at: now, bytes: produced, rate: rateSample.rate ? 0.5 * rateSample.rate + 0.5 * rate : rate };
    } else {
      rateSample = { at: now, bytes: produced, rate: rateSample.rate };
    }
    const acked = acknowledged - ackSample.bytes;
    if (acked >= 0 && now > ackSample.at) {
      const rate = (acked / (now - ackSample.at)) * 1000;
      ackSample = { at: now, bytes: acknowledged, rate: ackSample.rate ? 0.5 * ackSample.rate + 0.5 * rate : rate, last: rate };
    } else {
      ackSample = { at: now, bytes: acknowledged, rate: ackSample.rate, last: ackSample.last };
    }
    const perSecond = Math.max(rateSample.rate, ((bitrate() + (audioBitsPerSecond || 0)) / 8) * 0.05);
    const seconds = bytes / perSecond;
    on('onBacklog', bytes, seconds > BACKLOG_BEHIND_SECONDS);
    adapt(seconds);
  }, BACKLOG_REPORT_MS);

  return {
    stop: stopRecording,
    sendText(object) {
      if (socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(object));
      return true;
    },
    backlogBytes,
    unacknowledgedBytes: backlogBytes,
    videoBitsPerSecond: bitrate,
    mimeType: () => (recorder ? recorder.mimeType : null),
  };
}
