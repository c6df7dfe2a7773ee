// The publisher page: camera preview, Start/Stop, and the stream played back (dash.js, or HLS: see
// player.js) once the server says the manifest is ready. The connection itself is uplink.js.
// `window.livedash` exposes timings for the latency benchmark.

import { startPlayer, describeError } from './player.js';
import { startUplink } from './uplink.js';

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
  player: null, resumes: 0, fallbacks: 0, videoBitsPerSecond: 2_500_000,
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
let uplink = null;

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
  stats.clickedAt = performance.now();
  stats.state = 'connecting';
  startButton.disabled = true;
  setStatus('Connecting to the server…');
  uplink = startUplink({
    stream: $('stream').value,
    token: $('token').value,
    mediaStream: camera,
    mimeType: $('codec').value,
    videoBitsPerSecond: 2_500_000,
    audioBitsPerSecond: 64_000,
    keyFrameIntervalMs: config.segmentDuration * 1000,
    timesliceMs: config.timesliceMs,
    onRecorderStarted() { stats.recorderStartedAt = performance.now(); },
    onAccepted(message) {
      stats.state = 'accepted';
      stopButton.disabled = false;
      const link = new URL(message.watchUrl, location.href).href;
      $('share-link').href = link;
      $('share-link').textContent = link;
      $('share').hidden = false;
      setStatus('Connected. Packaging the first segment…');
    },
    onManifestReady(message) {
      stats.state = 'live';
      setStatus('You are live.');
      play(message.manifestUrl);
    },
    onEnded(message) {
      stats.state = 'ended';
      setStatus(`Ended: ${message.durationSeconds.toFixed(1)} s recorded. Viewers can watch the recording.`);
    },
    onError(message) {
      stats.state = 'error';
      stats.lastError = message;
      if (message.code === 'unauthorized') $('token-field').hidden = false;
      setStatus(describeError(message.code, message.message), true);
    },
    onFailed(sentence) {
      stats.state = 'error';
      stats.lastError = { code: 'recorder', message: sentence };
      setStatus(sentence, true);
      startButton.disabled = false;
      stopButton.disabled = true;
    },
    onClosed({ code, reason }) {
      stats.state = 'closed';
      setStatus(`The connection closed (${code}${reason ? `: ${reason}` : ''}). Click Start to go live again.`, true);
    },
    onFinished() {
      startButton.disabled = false;
      stopButton.disabled = true;
    },
    onReconnecting({ attempt }) {
      stats.state = 'reconnecting';
      setStatus(`The connection dropped; reconnecting (attempt ${attempt}). Still recording: nothing is lost.`, true);
    },
    onResumed() {
      stats.resumes += 1;
      stats.state = stats.player ? 'live' : 'accepted';
      setStatus(stats.player ? 'Reconnected: you are live, nothing was lost.' : 'Reconnected. Packaging the first segment…');
    },
    onFellBack(sentence) {
      stats.fallbacks += 1;
      stats.state = stats.player ? 'live' : 'accepted';
      setStatus(`Reconnected with a new recording (viewers may see a short gap): ${sentence}`, true);
    },
    onBitrate({ videoBitsPerSecond, lowered }) {
      stats.videoBitsPerSecond = videoBitsPerSecond;
      setStatus(lowered ? `Your upload can't keep up: recording at ${Math.round(videoBitsPerSecond / 1000)} kbit/s now so `
        + 'viewers stay close to live.' : `Your upload has room again: recording at ${Math.round(videoBitsPerSecond / 1000)} kbit/s.`, lowered);
    },
    onBacklog(bytes, behind) {
      stats.uploadBacklog = bytes;
      uploadWarning.hidden = !behind;
      uploadWarning.textContent = behind ? `Your upload is falling behind: ${Math.round(bytes / 1024)} KB `
        + 'not sent yet, so viewers see you later and later. Use a faster connection or a lower resolution.' : '';
    },
  });
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

setInterval(() => {
  const latency = stats.latency();
  $('latency').textContent = latency === null ? '' : `Glass-to-glass latency ≈ ${latency.toFixed(2)} s`;
}, 500);

form.addEventListener('submit', (event) => { event.preventDefault(); start(); });
stopButton.addEventListener('click', () => {
  stopButton.disabled = true;
  setStatus('Stopping: finishing the last segment…');
  uplink.stop();
});
openCamera();
