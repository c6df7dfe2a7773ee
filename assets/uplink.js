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
//     onRecorderStarted(),           // the recorder runs and `start` was sent (timing for the latency figure)
//     onAccepted(message),           // server said `accepted`: bytes may flow; message.watchUrl is the link
//     onManifestReady(message),      // server said `manifest_ready`: message.manifestUrl plays
//     onEnded(message),              // server said `ended` (message.durationSeconds)
//     onError(message),              // server said `error` ({code, message})
//     onFailed(sentence),            // the recorder or the server's messages failed here; the socket is closed
//     onClosed({ code, reason }),    // the socket closed without `ended`, `error` or onFailed
//     onFinished(),                  // the socket closed, for whatever reason (after the callbacks above)
//     onBacklog(bytes, behind),      // every 500 ms: bytes not sent yet; behind = more than ~1 s of video
//   });
//   uplink.stop();                   // stop recording; the last chunk and `stop` follow, then `ended`
//   uplink.sendText(object);         // a JSON text message (e.g. a thumbnail); false if the socket isn't open
//   uplink.backlogBytes();           // bytes the browser holds unsent
//   uplink.mimeType();               // the container the recorder really writes, once it started

import { socketUrl } from './player.js';

/** How often the page hears about the upload backlog. */
const BACKLOG_REPORT_MS = 500;

/** Seconds of video the browser may hold unsent before the page is told the uplink is behind. */
const BACKLOG_BEHIND_SECONDS = 1;

/** Opens the socket, records `mediaStream` once it is open, and reports through the callbacks. */
export function startUplink(options) {
  const {
    stream, token, mediaStream, mimeType, videoBitsPerSecond, audioBitsPerSecond, keyFrameIntervalMs, timesliceMs,
  } = options;
  const on = (name, ...args) => { if (options[name]) options[name](...args); };
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  const socket = new WebSocket(socketUrl(`/ws/publish/${encodeURIComponent(stream)}${query}`));
  socket.binaryType = 'arraybuffer';
  let recorder = null;
  // Set once the server or this module gave the last word, so the close is not reported as a surprise.
  let ended = false;
  let failed = false;

  socket.onopen = () => startRecording();
  socket.onmessage = (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      fail('The server sent a message this page cannot read; stopping. Reload the page and try again.');
      return;
    }
    if (message.type === 'accepted') on('onAccepted', message);
    else if (message.type === 'manifest_ready') on('onManifestReady', message);
    else if (message.type === 'ended') { ended = true; on('onEnded', message); }
    else if (message.type === 'error') { ended = true; on('onError', message); }
  };
  socket.onclose = (event) => {
    clearInterval(backlogTimer);
    stopRecording();
    if (!ended && !failed) on('onClosed', { code: event.code, reason: event.reason });
    on('onFinished');
  };

  function startRecording() {
    const recorderOptions = {
      mimeType,
      videoBitsPerSecond,
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
    recorder.onerror = (event) => {
      fail(`Recording stopped with an error: ${(event.error && event.error.message) || 'unknown error'}. Click Start to try again.`);
    };
    recorder.ondataavailable = (event) => {
      if (event.data.size && socket.readyState === WebSocket.OPEN) socket.send(event.data);
    };
    // The last chunk arrives before `stop`: only then is the presentation complete.
    recorder.onstop = () => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'stop' }));
    };
    try {
      recorder.start(timesliceMs);
    } catch (error) {
      fail(`The recorder could not start: ${error.message}. Pick another format or reload the page.`);
      return;
    }
    on('onRecorderStarted');
    // Chromium reports the real container once recording starts (e.g. video/x-matroska for H.264).
    socket.send(JSON.stringify({ type: 'start', mimeType: recorder.mimeType }));
  }

  /** Recording can't go on: say why and close the socket (the server keeps what it has). */
  function fail(sentence) {
    failed = true;
    on('onFailed', sentence);
    stopRecording();
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close();
  }

  function stopRecording() {
    if (recorder && recorder.state !== 'inactive') recorder.stop();
  }

  const backlogBytes = () => (socket.readyState === WebSocket.OPEN ? socket.bufferedAmount : 0);
  const behindBytes = ((videoBitsPerSecond || 0) / 8) * BACKLOG_BEHIND_SECONDS;
  const backlogTimer = setInterval(() => {
    const bytes = backlogBytes();
    on('onBacklog', bytes, bytes > behindBytes);
  }, BACKLOG_REPORT_MS);

  return {
    stop: stopRecording,
    sendText(object) {
      if (socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify(object));
      return true;
    },
    backlogBytes,
    mimeType: () => (recorder ? recorder.mimeType : null),
  };
}
