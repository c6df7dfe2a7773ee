// The publisher page: camera and microphone pickers, resolution and frame rate, mute / camera off / screen
// share while live, Start/Stop, the stream played back (dash.js, or HLS: see player.js) once the server says
// the manifest is ready. What is recorded is capture.js's output, the connection is uplink.js, thumbnails
// are thumbnail.js, the uptime, viewer count and latency lines live-info.js. `window.livedash` exposes
// state and timings for the tests and the latency benchmark.

import { startPlayer, describeError } from './player.js';
import { startUplink } from './uplink.js';
import { createOutput, canSwitchVideo } from './capture.js';
import { thumbnailOf } from './thumbnail.js';
import { showLiveInfo } from './live-info.js';

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
  player: null, stream: null, videoSource: 'camera', thumbnailsSent: 0, lastThumbnailBytes: 0, liveSince: null, viewers: null, recorderStarts: 0,
  resumes: 0, fallbacks: 0, videoBitsPerSecond: null, bitrateLowered: 0,
  /** Glass-to-glass latency in seconds: time since recording started minus the playback position. */
  latency() {
    if (this.recorderStartedAt === null || playback.currentTime === 0) return null;
    return (performance.now() - this.recorderStartedAt) / 1000 - playback.currentTime;
  },
});

// Made here rather than in the page's HTML so the warning lives with the code that raises it.
const uploadWarning = Object.assign(document.createElement('p'), { id: 'upload-warning', className: 'error', hidden: true });
$('status').after(uploadWarning);

/** How often the page sends a thumbnail while live. */
const THUMBNAIL_INTERVAL_MS = 5000;

/** The camera's and the microphone's tracks now; the screen's while sharing. */
const sources = { camera: null, microphone: null, screen: null };
stats.sources = sources;
let output = null;
let audioContext = null;
let uplink = null;
let micMuted = false;
let cameraOff = false;

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

function randomStreamName() {
  return `cam-${Math.random().toString(36).slice(2, 8)}`;
}

const live = () => uplink !== null;

/** The fake and most real cameras' size when nothing is asked for; only used if the camera doesn't say. */
const FALLBACK_SIZE = { width: 640, height: 480 };

/** The recording's size: the one picked, or (by default) the size the camera delivers by itself. */
function chosenSize() {
  if ($('resolution').value === 'camera') {
    const settings = sources.camera ? sources.camera.getSettings() : {};
    return settings.width && settings.height ? { width: settings.width, height: settings.height } : FALLBACK_SIZE;
  }
  const [width, height] = $('resolution').value.split('x').map(Number);
  return { width, height };
}

/** Constraints for the camera from the pickers: the chosen device (or facing), size and frame rate. */
function videoConstraints({ byFacing = false } = {}) {
  const constraints = { frameRate: { ideal: Number($('framerate').value) } };
  if ($('resolution').value !== 'camera') {
    const { width, height } = chosenSize();
    Object.assign(constraints, { width: { ideal: width }, height: { ideal: height } });
  }
  if (byFacing) constraints.facingMode = { ideal: $('facing').value };
  else if ($('camera').value) constraints.deviceId = { exact: $('camera').value };
  return constraints;
}

function audioConstraints() {
  return $('microphone').value ? { deviceId: { exact: $('microphone').value } } : true;
}

/** Fills a picker with the devices of `kind`, keeping the one in use selected. Labels exist after permission. */
function fillPicker(select, devices, kind, inUse) {
  const current = inUse && inUse.getSettings().deviceId;
  select.replaceChildren(...devices.filter((d) => d.kind === kind)
    .map((d, n) => new Option(d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${n + 1}`, d.deviceId)));
  if (current) select.value = current;
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  fillPicker($('camera'), devices, 'videoinput', sources.camera);
  fillPicker($('microphone'), devices, 'audioinput', sources.microphone);
}

/**
 * The front/rear choice, where the browser can pick a camera by the way it faces: phones, and any device
 * whose camera says which way it faces.
 */
function showFacingChoice() {
  const supported = navigator.mediaDevices.getSupportedConstraints().facingMode;
  const capabilities = sources.camera && sources.camera.getCapabilities ? sources.camera.getCapabilities() : {};
  const phone = matchMedia('(pointer: coarse)').matches;
  $('facing-field').hidden = !(supported && (phone || (capabilities.facingMode || []).length > 0));
}

/** (Re)builds the recorded output at the chosen size from the current sources. Only while not live. */
function rebuildOutput() {
  if (output) output.close();
  const { width, height } = chosenSize();
  $('resolution').querySelector('option[value="camera"]').textContent = `The camera's own (${width}×${height})`;
  const screenVideo = sources.screen && sources.screen.getVideoTracks()[0];
  output = createOutput({ width, height, audioContext, video: screenVideo || sources.camera });
  output.setAudio([sources.microphone, ...(sources.screen ? sources.screen.getAudioTracks() : [])]);
  output.setCameraOff(cameraOff);
  preview.srcObject = output.stream;
  stats.output = output;
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
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: videoConstraints(), audio: true });
  } catch (error) {
    setStatus(`The camera could not be opened: ${error.message}. Allow camera and microphone access and reload.`, true);
    return;
  }
  [sources.camera] = stream.getVideoTracks();
  [sources.microphone] = stream.getAudioTracks();
  // Created here, resumed by the Start click: browsers keep an AudioContext silent until a gesture.
  audioContext = new AudioContext();
  rebuildOutput();
  await listDevices();
  showFacingChoice();
  navigator.mediaDevices.addEventListener('devicechange', () => { listDevices(); });
  startButton.disabled = false;
  setStatus('Camera ready. Pick a stream name and click Start.');
}

/** Opens another camera (by device or by facing) and feeds it to the output, live or not. */
async function switchCamera({ byFacing = false } = {}) {
  if (live() && !canSwitchVideo) return;
  const open = async () => (await navigator.mediaDevices.getUserMedia({ video: videoConstraints({ byFacing }) })).getVideoTracks()[0];
  const previous = sources.camera;
  let track;
  try {
    track = await open();
  } catch {
    // Many phones open one camera at a time: let go of the one in use and ask again.
    previous.stop();
    try {
      track = await open();
    } catch (error) {
      setStatus(`That camera could not be opened: ${error.message}. Pick another camera.`, true);
      return;
    }
  }
  sources.camera = track;
  if (live()) {
    if (!sources.screen) output.setVideo(track);
  } else {
    rebuildOutput();
  }
  updateControls();
  previous.stop();
  await listDevices();
  showFacingChoice();
}

async function switchMicrophone() {
  let track;
  try {
    [track] = (await navigator.mediaDevices.getUserMedia({ audio: audioConstraints() })).getAudioTracks();
  } catch (error) {
    setStatus(`That microphone could not be opened: ${error.message}. The previous one stays on.`, true);
    return;
  }
  track.enabled = !micMuted;
  const previous = sources.microphone;
  sources.microphone = track;
  output.setAudio([track, ...(sources.screen ? sources.screen.getAudioTracks() : [])]);
  if (previous) previous.stop();
}

/** Frame rate (and, before going live, size) by asking the camera itself; no new device needed. */
/** Settings being applied to the camera; Start waits for them so it records what was picked. */
let cameraSettled = Promise.resolve();

function applyCameraSettings() {
  cameraSettled = (async () => {
    try {
      await sources.camera.applyConstraints(videoConstraints());
    } catch (error) {
      setStatus(`The camera refused that setting: ${error.message}.`, true);
    }
    if (!live()) rebuildOutput();
  })();
}

async function toggleScreen() {
  if (sources.screen) { stopSharing(); return; }
  let screen;
  try {
    screen = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: Number($('framerate').value) }, audio: true });
  } catch (error) {
    setStatus(`Screen sharing did not start: ${error.message}. You are still showing your camera.`, true);
    return;
  }
  sources.screen = screen;
  const [video] = screen.getVideoTracks();
  // The browser's own "Stop sharing" ends the track: back to the camera.
  video.addEventListener('ended', () => { if (sources.screen === screen) stopSharing(); });
  output.setVideo(video);
  output.setAudio([sources.microphone, ...screen.getAudioTracks()]);
  stats.videoSource = 'screen';
  $('screen').setAttribute('aria-pressed', 'true');
  $('screen').textContent = 'Stop sharing';
}

function stopSharing() {
  const screen = sources.screen;
  sources.screen = null;
  if (output) {
    output.setVideo(sources.camera);
    output.setAudio([sources.microphone]);
  }
  for (const track of screen.getTracks()) track.stop();
  stats.videoSource = 'camera';
  $('screen').setAttribute('aria-pressed', 'false');
  $('screen').textContent = 'Share screen';
}

function toggleMute() {
  micMuted = !micMuted;
  // A disabled track is silence: the recorder and the stream go on.
  if (sources.microphone) sources.microphone.enabled = !micMuted;
  $('mute').setAttribute('aria-pressed', String(micMuted));
  $('mute').textContent = micMuted ? 'Unmute microphone' : 'Mute microphone';
}

function toggleCamera() {
  cameraOff = !cameraOff;
  output.setCameraOff(cameraOff);
  $('camera-off').setAttribute('aria-pressed', String(cameraOff));
  $('camera-off').textContent = cameraOff ? 'Turn camera on' : 'Turn camera off';
}

/** Enables what may change now: the size and (where the recorder can't switch) the video source are fixed while live. */
function updateControls() {
  $('resolution').disabled = live();
  $('resolution-hint').hidden = !live();
  const videoFixed = live() && !canSwitchVideo;
  $('camera').disabled = videoFixed;
  $('facing').disabled = videoFixed;
  // Phones have no getDisplayMedia: no button rather than one that never works.
  $('screen').hidden = !navigator.mediaDevices.getDisplayMedia || !canSwitchVideo;
  $('screen').disabled = !output || (live() && !canSwitchVideo);
  $('mute').disabled = !sources.microphone;
  $('camera-off').disabled = !output;
}

async function start() {
  stats.clickedAt = performance.now();
  stats.state = 'connecting';
  startButton.disabled = true;
  setStatus('Connecting to the server…');
  audioContext.resume();
  await cameraSettled;
  stats.stream = $('stream').value;
  uplink = startUplink({
    stream: stats.stream,
    token: $('token').value,
    mediaStream: output.stream,
    mimeType: $('codec').value,
    videoBitsPerSecond: 2_500_000,
    audioBitsPerSecond: 64_000,
    keyFrameIntervalMs: config.segmentDuration * 1000,
    timesliceMs: config.timesliceMs,
    onRecorderStarted() { stats.recorderStartedAt = performance.now(); stats.recorderStarts += 1; },
    onAccepted(message) {
      stats.state = 'accepted';
      stats.liveSince = Date.now();
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
      uplink = null;
      updateControls();
    },
    onClosed({ code, reason }) {
      stats.state = 'closed';
      setStatus(`The connection closed (${code}${reason ? `: ${reason}` : ''}). Click Start to go live again.`, true);
    },
    onFinished() {
      uplink = null;
      stats.liveSince = null;
      startButton.disabled = false;
      stopButton.disabled = true;
      updateControls();
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
      if (lowered) stats.bitrateLowered += 1;
      setStatus(lowered ? `Your upload can't keep up: recording at ${Math.round(videoBitsPerSecond / 1000)} kbit/s now so `
        + 'viewers stay close to live.' : `Your upload has room again: recording at ${Math.round(videoBitsPerSecond / 1000)} kbit/s.`, lowered);
    },
    onBacklog(bytes, behind, queueMs) {
      stats.uploadBacklog = bytes;
      stats.uploadQueueMs = queueMs;
      uploadWarning.hidden = !behind;
      uploadWarning.textContent = behind ? `Your upload is falling behind: ${Math.round(bytes / 1024)} KB `
        + 'not sent yet, so viewers see you later and later. Use a faster connection or a lower resolution.' : '';
    },
  });
  stats.videoBitsPerSecond = uplink.videoBitsPerSecond();
  updateControls();
}

async function sendThumbnail() {
  if (!live() || stats.state !== 'live') return;
  const data = await thumbnailOf(preview);
  if (data && uplink && uplink.sendText({ type: 'thumbnail', data })) {
    stats.thumbnailsSent += 1;
    stats.lastThumbnailBytes = data.length;
  }
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

showLiveInfo(stats, live);
setInterval(sendThumbnail, THUMBNAIL_INTERVAL_MS);

form.addEventListener('submit', (event) => { event.preventDefault(); start(); });
stopButton.addEventListener('click', () => {
  stopButton.disabled = true;
  setStatus('Stopping: finishing the last segment…');
  uplink.stop();
});
$('camera').addEventListener('change', () => switchCamera());
$('facing').addEventListener('change', () => switchCamera({ byFacing: true }));
$('microphone').addEventListener('change', switchMicrophone);
$('resolution').addEventListener('change', applyCameraSettings);
$('framerate').addEventListener('change', applyCameraSettings);
$('screen').addEventListener('click', toggleScreen);
$('mute').addEventListener('click', toggleMute);
$('camera-off').addEventListener('click', toggleCamera);
openCamera().then(updateControls);
