// The publisher page: camera preview, Start/Stop, MediaRecorder bytes over a WebSocket, and the
// stream played back (dash.js, or HLS: see player.js) once the server says the manifest is ready.
// `window.livedash` exposes timings for the latency benchmark.

import { startPlayer, describeError, socketUrl } from './player.js';

const config = JSON.parse(document.getElementById('livedash-config').textContent);
const $ = (id) => document.getElementById(id);
const preview = $('preview');
const playback = $('playback');
const form = $('controls');
const startButton = $('start');
const stopButton = $('stop');

// Best first: H.264 in Matroska (low latency, cheap to encode), then VP9, VP8 (normal latency only), MP4
// last (Chromium writes one MP4 chunk per keyframe interval, which adds latency).
const FORMATS = [
  ['video/webm;codecs=h264,opus', 'H.264 + Opus (WebM/Matroska)'],
  ['video/webm;codecs=vp9,opus', 'VP9 + Opus (WebM)'],
  ['video/webm;codecs=vp8,opus', 'VP8 + Opus (WebM, normal latency)'],
  ['video/mp4;codecs=avc1,opus', 'H.264 + Opus (MP4)'],
  ['video/mp4;codecs=vp9,opus', 'VP9 + Opus (MP4)'],
];

const stats = (window.livedash = {
  clickedAt: null, recorderStartedAt: null, firstFrameAt: null, stalls: 0, state: 'idle', lastError: null,
  player: null,
  /** Glass-to-glass latency in seconds: time since recording started minus the playback position. */
  latency() {
    if (this.recorderStartedAt === null || playback.currentTime === 0) return null;
    return (performance.now() - this.recorderStartedAt) / 1000 - playback.currentTime;
  },
});

// Made here rather than in the page's HTML so the warning lives with the code that raises it.
const uploadWarning = Object.assign(document.createElement('p'), { id: 'upload-warning', className: 'error', hidden: true });
$('status').after(uploadWarning);

let camera = null;
let recorder = null;
let socket = null;

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

function randomStreamName() {
  return `cam-${Math.random().toString(36).slice(2, 8)}`;
}

async function openCamera() {
  for (const [type, label] of FORMATS) {
    if (!MediaRecorder.isTypeSupported(type)) continue;
    $('codec').append(new Option(label, type));
  }
  if (!$('codec').options.length) {
    setStatus('This browser cannot record any format livedash packages (H.264, VP9 or VP8 with Opus).', true);
    return;
  }
  $('stream').value = new URLSearchParams(location.search).get('stream') || randomStreamName();
  $('token-field').hidden = !config.tokenRequired;
  try {
    camera = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch (error) {
    setStatus(`The camera could not be opened: ${error.message}. Allow camera and microphone access and reload.`, true);
    return;
  }
  preview.srcObject = camera;
  startButton.disabled = false;
  setStatus('Camera ready. Pick a stream name and click Start.');
}

function start() {
  const stream = $('stream').value;
  const token = $('token').value;
  stats.clickedAt = performance.now();
  stats.state = 'connecting';
  startButton.disabled = true;
  setStatus('Connecting to the server…');
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  socket = new WebSocket(socketUrl(`/ws/publish/${encodeURIComponent(stream)}${query}`));
  socket.binaryType = 'arraybuffer';
  let ended = false;
  socket.onopen = () => startRecording();
  socket.onmessage = (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      setStatus('The server sent a message this page cannot read; stopping. Reload the page and try again.', true);
      socket.close();
      return;
    }
    if (message.type === 'accepted') {
      stats.state = 'accepted';
      stopButton.disabled = false;
      const link = new URL(message.watchUrl, location.href).href;
      $('share-link').href = link;
      $('share-link').textContent = link;
      $('share').hidden = false;
      setStatus('Connected. Packaging the first segment…');
    } else if (message.type === 'manifest_ready') {
      stats.state = 'live';
      setStatus('You are live.');
      play(message.manifestUrl);
    } else if (message.type === 'ended') {
      ended = true;
      stats.state = 'ended';
      setStatus(`Ended: ${message.durationSeconds.toFixed(1)} s recorded. Viewers can watch the recording.`);
    } else if (message.type === 'error') {
      ended = true;
      stats.state = 'error';
      stats.lastError = message;
      if (message.code === 'unauthorized') $('token-field').hidden = false;
      setStatus(describeError(message.code, message.message), true);
    }
  };
  socket.onclose = (event) => {
    stopRecording();
    startButton.disabled = false;
    stopButton.disabled = true;
    if (!ended) {
      stats.state = 'closed';
      setStatus(`The connection closed (${event.code}${event.reason ? `: ${event.reason}` : ''}). Click Start to go live again.`, true);
    }
  };
}

function startRecording() {
  const options = {
    mimeType: $('codec').value,
    videoBitsPerSecond: 2_500_000,
    audioBitsPerSecond: 64_000,
    // One keyframe per segment: without it Chromium uses 100 frames and segments come out 3–6 s long.
    videoKeyFrameIntervalDuration: config.segmentDuration * 1000,
  };
  try {
    recorder = new MediaRecorder(camera, options);
  } catch (error) {
    failRecording(`This browser could not record ${options.mimeType}: ${error.message}. Pick another format.`);
    return;
  }
  recorder.onerror = (event) => {
    failRecording(`Recording stopped with an error: ${(event.error && event.error.message) || 'unknown error'}. Click Start to try again.`);
  };
  recorder.ondataavailable = (event) => {
    if (event.data.size && socket.readyState === WebSocket.OPEN) socket.send(event.data);
  };
  // The last chunk arrives before `stop`: only then is the presentation complete.
  recorder.onstop = () => {
    if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: 'stop' }));
  };
  try {
    recorder.start(config.timesliceMs);
  } catch (error) {
    failRecording(`The recorder could not start: ${error.message}. Pick another format or reload the page.`);
    return;
  }
  stats.recorderStartedAt = performance.now();
  // Chromium reports the real container once recording starts (e.g. video/x-matroska for H.264).
  socket.send(JSON.stringify({ type: 'start', mimeType: recorder.mimeType }));
}

/** Recording can't go on: say why, in words, and close the socket (the server keeps what it has). */
function failRecording(sentence) {
  stats.state = 'error';
  stats.lastError = { code: 'recorder', message: sentence };
  setStatus(sentence, true);
  // Cleared before closing so the socket's close handler doesn't replace the sentence.
  socket.onclose = null;
  startButton.disabled = false;
  stopButton.disabled = true;
  stopRecording();
  if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close();
}

function stopRecording() {
  if (recorder && recorder.state !== 'inactive') recorder.stop();
}

async function play(manifestUrl) {
  if (stats.player) stats.player.reset();
  stats.firstFrameAt = null;
  try {
    stats.player = await startPlayer(playback, manifestUrl, {
      onEvent(name, event) {
        if (name === 'BUFFER_EMPTY' && stats.firstFrameAt !== null && stats.state === 'live') stats.stalls += 1;
        if (name === 'ERROR' || name === 'PLAYBACK_ERROR') {
          const error = event && event.error;
          stats.playerError = (error && (error.message || error.code)) || 'unknown error';
          setStatus(`You are live, but the preview player failed ("${stats.playerError}"); viewers are not affected.`, true);
        }
      },
    });
  } catch (error) {
    setStatus(`Live, but this browser can't play it back: ${error.message}`, true);
    return;
  }
  playback.requestVideoFrameCallback((now) => { stats.firstFrameAt = now; });
}

/**
 * Bytes the browser may hold unsent before the page warns: about a second of video at the recorder's
 * bitrate. More means the uplink is slower than the recording and latency is growing.
 */
const UPLOAD_BACKLOG_WARNING_BYTES = 2_500_000 / 8;

setInterval(() => {
  const latency = stats.latency();
  $('latency').textContent = latency === null ? '' : `Glass-to-glass latency ≈ ${latency.toFixed(2)} s`;
  const backlog = socket && socket.readyState === WebSocket.OPEN ? socket.bufferedAmount : 0;
  stats.uploadBacklog = backlog;
  uploadWarning.hidden = backlog <= UPLOAD_BACKLOG_WARNING_BYTES;
  uploadWarning.textContent = uploadWarning.hidden ? '' : `Your upload is falling behind: ${Math.round(backlog / 1024)} KB `
    + 'not sent yet, so viewers see you later and later. Use a faster connection or a lower resolution.';
}, 500);

form.addEventListener('submit', (event) => { event.preventDefault(); start(); });
stopButton.addEventListener('click', () => {
  stopButton.disabled = true;
  setStatus('Stopping: finishing the last segment…');
  stopRecording();
});
openCamera();
