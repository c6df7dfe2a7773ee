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
//     onRecorderStarted(),           // the first recorder runs (timing for the latency figure)
//     onAccepted(message),           // server said `accepted`: bytes may flow; message.watchUrl is the link
//     onManifestReady(message),      // server said `manifest_ready`: message.manifestUrl plays
//     onEnded(message),              // server said `ended` (message.durationSeconds)
//     onError(message),              // server said `error` ({code, message})
//     onFailed(sentence),            // the recorder or the server's messages failed here; the socket is closed
//     onClosed({ code, reason }),    // the socket closed without `ended`, `error` or onFailed
//     onFinished(),                  // the socket closed, for whatever reason (after the callbacks above)
//     onBacklog(bytes, behind, queueMs), // every 500 ms: bytes the server does not hold yet; behind =
//                                    // more than ~1 s of recording; how long the link queues (or null)
//     onBitrate({ videoBitsPerSecond, lowered }), // a new recording at this bitrate continues the presentation
//     onReconnecting({ attempt, delayMs }), // the connection dropped; recording goes on, reconnecting
//     onResumed({ bytes }),          // the server took the recording back at byte `bytes`: nothing lost
//     onFellBack(sentence),          // not_resumable: a new recording took its place (a short gap); not onAccepted
//   });
//   uplink.stop();                   // stop recording; the last chunk and `stop` follow, then `ended`
//   uplink.sendText(object);         // a JSON text message (e.g. a thumbnail); false if the socket isn't open
//   uplink.mimeType();               // the container the recorder really writes, once it started
//   uplink.videoBitsPerSecond();     // the bitrate the recorder records at now
//
// Zero-loss resume: every recorder byte is kept until `received` says the server holds it. After a drop
// the recorder goes on; this module reconnects with backoff, sends `resume` and, on `accepted` with
// `bytes: N`, the recording from byte N on (after `not_resumable`: a new recording the older way).
//
// An uplink that adapts: bytes wait in this module, not in the socket (at most SOCKET_BUFFER_BYTES are
// handed to it), so what the link can't carry can still be dropped. uplink-rate.js decides the bitrate
// from the delay of the server's acknowledgements; a new bitrate is a new recording (changeBitrate).

import { socketUrl } from './player.js';
import { createRateControl } from './uplink-rate.js';

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

/** How long bytes kept while no socket could carry them (an outage, a new recording's socket opening)
 *  may take to drain before the link is judged again. */
const DRAIN_MS = 5000;

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
  // Bytes kept while no socket could carry them (an outage, a new socket opening) are being delivered:
  // not a sign of a slow link (dropping them would lose what resuming saved), for up to DRAIN_MS.
  let draining = null;
  let recorderStartedOnce = false;
  // Recent production, to say how many seconds of recording the backlog is: [time, produced total].
  let rateSample = { at: performance.now(), bytes: 0, rate: 0 };
  const rate = createRateControl({ videoBitsPerSecond, audioBitsPerSecond, now: performance.now() });
  const bitrate = () => rate.videoBitsPerSecond();
  // When the current recorder started: its `start` says how long before it that was.
  let recorderStartedAt = null;
  // The socket a raise is opening: the link is not judged meanwhile.
  let switching = null;
  let finished = false;
  // Why the last resume was refused, until the new recording that replaces it is accepted.
  let fellBackBecause = null;

  connect(null);

  /** Opens a socket; `resumeWith` is the token to resume with, or null for a new recording. */
  /** Opens a socket, or takes `opened` (one opened ahead, still open); `resumeWith` is the token to
   *  resume with, or null for a new recording. */
  function connect(resumeWith, opened = null) {
    flowing = false;
    acceptedNow = false;
    draining = null;
    const ready = opened && opened.readyState === WebSocket.OPEN;
    socket = ready ? opened : openSocket();
    const begin = () => {
      if (resumeWith) socket.send(JSON.stringify({ type: 'resume', resumeToken: resumeWith }));
      else startRecording();
    };
    socket.onmessage = (event) => onMessage(event.data);
    socket.onclose = (event) => onClose(event);
    if (ready) begin();
    else socket.onopen = begin;
  }

  function openSocket() {
    const opening = new WebSocket(url);
    opening.binaryType = 'arraybuffer';
    return opening;
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
    if (message.resumeToken) resumeToken = message.resumeToken;
    // What the recorder wrote while the socket was opening goes out first.
    if (!message.resumed) draining = { until: produced, since: performance.now() };
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
      socket.send(unsentPart(chunk));
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
    rate.acknowledged(performance.now(), bytes);
    while (pending.length && pending[0].offset + pending[0].data.size <= acknowledged) pending.shift();
  }

  function onClose(event) {
    flowing = false;
    // Until `ended`, the recording (or its tail and `stop`, after the user stopped) can still be
    // delivered: resumed, or, for a new bitrate's recording the server has none of yet, started again.
    const again = resumeToken || (acceptedOnce && !acceptedNow);
    if (again && !ended && !failed && attempt < RECONNECT_DELAYS_MS.length) {
      const delayMs = RECONNECT_DELAYS_MS[attempt];
      attempt += 1;
      on('onReconnecting', { attempt, delayMs });
      const token = resumeToken;
      reconnectTimer = setTimeout(() => connect(token), delayMs);
      return;
    }
    stopRecording();
    if (!ended && !failed) on('onClosed', { code: event.code, reason: event.reason });
    finish();
  }

  function finish() {
    if (finished) return;
    finished = true;
    clearInterval(backlogTimer);
    clearInterval(pumpTimer);
    if (switching) switching.close();
    on('onFinished');
  }

  /** The server can't resume: the kept bytes are of no use; a new recording starts the older way. */
  function fallBack(message) {
    resumeToken = null;
    pending = [];
    produced = 0;
    acknowledged = 0;
    if (recorder) dropped(recorder);
    recorder = null;
    const socketNow = socket;
    socketNow.onmessage = null;
    socketNow.onclose = null;
    socketNow.close();
    fellBackBecause = message.message;
    // The new recording may be a new presentation (the old one ended): its manifest_ready is news.
    manifestReported = false;
    if (stopping) {
      ended = true;
      finish();
      return;
    }
    connect(null);
  }

  /** Stops `old`, dropping what it still had: a new recording replaces it. */
  function dropped(old) {
    old.ondataavailable = null;
    old.onstop = null;
    if (old.state !== 'inactive') old.stop();
  }

  /** Records at the bitrate `change` says, in a new recording on a new socket (the server keeps the
   *  presentation for it). A lowering replaces the recording at once, dropping its unsent tail. A raise
   *  first opens the new socket, then replaces the recording without a hole ([`replaceRecording`]). */
  function changeBitrate(change) {
    if (change.lowered) {
      on('onBitrate', change);
      replaceRecording({ keepTail: false, next: null });
      return;
    }
    const from = socket;
    const next = openSocket();
    switching = next;
    // Not if the old socket dropped meanwhile (the resume keeps its recording) or the page is done.
    const stillWanted = () => socket === from && from.readyState === WebSocket.OPEN && !stopping && !failed && !ended;
    const settle = (opened) => {
      switching = null;
      if (stillWanted()) {
        on('onBitrate', change);
        replaceRecording({ keepTail: true, next: opened });
        return;
      }
      rate.revert(performance.now());
      if (opened) opened.close();
    };
    next.onopen = () => settle(next);
    // It could not open: the old way, a new socket once the old one closed.
    next.onclose = () => { if (switching === next) settle(null); };
  }

  /** Ends the current recording and socket and starts the next. With `keepTail` (a raise), the new
   *  recorder starts in the same moment the old one stops, and the old recording's unsent bytes and last
   *  chunk go out on the old socket before it closes; the new recording's bytes wait for `next` (or a
   *  new socket) until then, and its `start` says how long ago it started, so the server places it right
   *  after the old one. Without (a lowering), the new recording starts when its socket opens: the
   *  dropped tail and the reconnect are a hole, which is what brings latency back at once. */
  function replaceRecording({ keepTail, next }) {
    const old = { socket, recorder, tail: keepTail ? unsentTail() : [] };
    socket.onmessage = null;
    socket.onclose = (event) => (failed || ended ? onClose(event) : connect(null, next));
    recorder = null;
    resumeToken = null;
    flowing = false;
    if (!keepTail || !old.recorder || old.recorder.state === 'inactive') {
      if (old.recorder) dropped(old.recorder);
      old.socket.close();
      return;
    }
    const carry = (data) => { if (old.socket.readyState === WebSocket.OPEN) old.socket.send(data); };
    old.tail.forEach(carry);
    old.recorder.ondataavailable = (event) => { if (event.data.size) carry(event.data); };
    old.recorder.onstop = () => old.socket.close();
    old.recorder.stop();
    startRecorder();
  }

  /** The current recording's bytes not yet handed to the socket: all of it, and of one chunk. */
  function unsentTail() {
    return pending.filter((chunk) => chunk.offset + chunk.data.size > sent).map(unsentPart);
  }
  function unsentPart(chunk) {
    return sent > chunk.offset ? chunk.data.slice(sent - chunk.offset) : chunk.data;
  }

  /** Every backlog report: asks uplink-rate.js whether to record at another bitrate. */
  function adapt() {
    if (!flowing || stopping || !acceptedNow || switching !== null) return;
    const now = performance.now();
    if (draining && (acknowledged >= draining.until || now - draining.since > DRAIN_MS)) {
      draining = null;
      rate.judgeFrom(now);
    }
    if (draining) return;
    const change = rate.decide(now);
    if (change) changeBitrate(change);
  }

  /** On a new socket: starts a recorder unless one already records (a new bitrate's), then `start`. */
  function startRecording() {
    if (!recorder && !startRecorder()) return;
    // Chromium reports the real container once recording starts (e.g. video/x-matroska for H.264).
    const start = { type: 'start', mimeType: recorder.mimeType };
    const startedMsAgo = Math.round(performance.now() - recorderStartedAt);
    if (startedMsAgo > 0) start.startedMsAgo = startedMsAgo;
    socket.send(JSON.stringify(start));
    // The server holds none of this recording, even if an earlier socket carried some of it.
    sent = 0;
    stopSent = false;
    flowing = true;
    pump();
  }

  /** Starts a new recording at the current bitrate; its bytes wait in `pending` for a socket. False
   *  (after saying why) if the browser can't record. */
  function startRecorder() {
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
      return false;
    }
    const own = recorder;
    recorder.onerror = (event) => {
      fail(`Recording stopped with an error: ${(event.error && event.error.message) || 'unknown error'}. Click Start to try again.`);
    };
    recorder.ondataavailable = (event) => {
      if (!event.data.size || own !== recorder) return;
      pending.push({ offset: produced, data: event.data });
      produced += event.data.size;
      rate.produced(performance.now(), produced);
      pump();
      // Stop was asked for before this recording had produced anything: end it now that it has (a
      // recording with no bytes can't be opened).
      if (stopping && own.state === 'recording') own.stop();
    };
    // The last chunk arrives before `stop`: only then is the presentation complete.
    recorder.onstop = () => {
      recorderDone = true;
      pump();
    };
    pending = [];
    produced = 0;
    acknowledged = 0;
    recorderDone = false;
    try {
      recorder.start(timesliceMs);
    } catch (error) {
      fail(`The recorder could not start: ${error.message}. Pick another format or reload the page.`);
      return false;
    }
    recorderStartedAt = performance.now();
    rate.newRecording(recorderStartedAt);
    // The presentation's clock starts with the first recorder; later ones continue it.
    if (!recorderStartedOnce) on('onRecorderStarted');
    recorderStartedOnce = true;
    return true;
  }

  /** Recording can't go on: say why and close the socket (the server keeps what it has). */
  function fail(sentence) {
    failed = true;
    clearTimeout(reconnectTimer);
    on('onFailed', sentence);
    stopRecording();
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close();
    // Between a drop and the reconnect no close event is coming.
    else finish();
  }

  function stopRecording() {
    stopping = true;
    // A recorder that has produced nothing yet stops after its first chunk (ondataavailable).
    if (recorder && recorder.state !== 'inactive' && produced > 0) recorder.stop();
  }

  const backlogBytes = () => produced - acknowledged;
  const pumpTimer = setInterval(pump, PUMP_MS);
  const backlogTimer = setInterval(() => {
    const bytes = backlogBytes();
    // The recorder may write far less than its setting (a still picture): judge by what it writes.
    const now = performance.now();
    const made = produced - rateSample.bytes; // negative: a new recording started
    const lately = made >= 0 ? (made / (now - rateSample.at)) * 1000 : rateSample.rate;
    rateSample = { at: now, bytes: produced, rate: rateSample.rate ? 0.5 * rateSample.rate + 0.5 * lately : lately };
    const writing = Math.max(rateSample.rate, ((bitrate() + (audioBitsPerSecond || 0)) / 8) * 0.05);
    const seconds = bytes / writing;
    on('onBacklog', bytes, seconds > BACKLOG_BEHIND_SECONDS, rate.queueMs(now));
    adapt();
  }, BACKLOG_REPORT_MS);

  return {
    stop: stopRecording,
    sendText(object) {
      if (socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(object));
      return true;
    },
    videoBitsPerSecond: bitrate,
    mimeType: () => (recorder ? recorder.mimeType : null),
  };
}
