// The viewer page: waits for the stream, plays it once the manifest is ready (dash.js; HLS where MSE is
// missing or with `?player=hls`, see player.js), says when it ended and keeps playing the recording, with
// a link to download it as one file. Follows the stream's next presentation if it goes live again.
//
// Playback starts muted (browsers only autoplay sound after a gesture), with an Unmute button. While live
// it shows the latency (the server's clock now, minus when the presentation started, minus the playback
// position: what the viewer sees is that far behind the camera) and, when playback fell well behind the
// player's own target, a "Go to live" button. The number watching and whether the publisher is connected
// come from /api/streams/{stream}, polled every few seconds.
//
// The state line (#status, window.livedash.state) is one of: connecting, waiting, live, reconnecting
// (this page lost the server, or the publisher lost theirs and may come back), ended, error.

import { startPlayer, describeError, socketUrl } from './player.js';

const $ = (id) => document.getElementById(id);
const stream = decodeURIComponent(location.pathname.split('/').pop());
const playback = $('playback');
document.title = `livedash — ${stream}`;
$('title').textContent = `Watching ${stream}`;

const state = (window.livedash = {
  state: 'connecting', player: null, stalls: 0, ended: false, lastError: null, playerError: null, connects: 0,
  viewers: null, latency: null, publisherConnected: true, recordingUrl: null, socketOpen: false,
});
// Reconnects back off and count towards the limit until the stream shows progress (manifest_ready or
// ended), not merely until a socket opens: after a stream error the server sends the error again and
// closes, and resetting on open would reconnect every second forever.
let retries = 0;
const MAX_RETRIES = 100;
const MAX_RETRY_DELAY_MS = 30_000;
/** How often the viewer count and the publisher's connection are asked for. */
const POLL_MS = 3000;
/** "Go to live" shows when playback is more than this many times the player's target behind live… */
const BEHIND_FACTOR = 2;
/**
 * …and at least this many seconds past the target: a low-latency player starts 2 s behind and closes the
 * gap to its 0.6 s target by itself within a few seconds, which needs no button.
 */
const BEHIND_MIN_SECONDS = 1.5;

function setState(name, text, isError = false) {
  state.state = name;
  $('status').textContent = text;
  $('status').dataset.state = name;
  $('status').classList.toggle('error', isError);
  // Only while live: without a publisher, or after the end, there is no live edge to go to.
  if (name !== 'live') $('live-edge').hidden = true;
}

/** The state line for a live stream: live, or waiting for a publisher who lost their connection. */
function showLive() {
  if (!state.socketOpen) {
    setState('reconnecting', 'Lost the connection to the server; reconnecting…');
  } else if (!state.publisherConnected) {
    setState('reconnecting', `${stream}'s publisher lost their connection; waiting for them to come back…`);
  } else {
    setState('live', `${stream} is live.`);
  }
}

function connect() {
  const socket = new WebSocket(socketUrl(`/ws/watch/${encodeURIComponent(stream)}`));
  state.connects += 1;
  socket.onopen = () => {
    state.socketOpen = true;
    if (state.state === 'reconnecting') showLive();
    else if (!state.player && state.state !== 'error') setState('waiting', `Waiting for ${stream} to go live…`);
  };
  socket.onmessage = async (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      setState(state.state, 'The server sent a message this page cannot read. Reload the page to try again.', true);
      return;
    }
    if (message.type === 'manifest_ready' || message.type === 'ended') retries = 0;
    if (message.type === 'manifest_ready') {
      state.playerError = null;
      state.ended = false;
      state.recordingUrl = null;
      $('download').hidden = true;
      showLive();
      if (state.player) state.player.reset();
      state.player = null;
      try {
        state.player = await startPlayer(playback, message.manifestUrl, {
          onEvent(name, event) {
            if (name === 'BUFFER_EMPTY' && !state.ended) state.stalls += 1;
            if (name === 'ERROR' || name === 'PLAYBACK_ERROR') {
              state.playerError = describePlayerError(event);
              // At the end of a live stream the player asks for a segment after the last one, which
              // never comes: not worth alarming someone now watching the recording.
              if (state.ended) return;
              $('status').textContent = `${stream} could not be played: ${state.playerError}`;
              $('status').classList.add('error');
            }
          },
        });
      } catch (error) {
        state.lastError = { code: 'unplayable', message: error.message };
        setState('error', `${stream} can't be played here: ${error.message}`, true);
      }
    } else if (message.type === 'ended') {
      state.ended = true;
      setState('ended', `${stream} ended after ${message.durationSeconds.toFixed(1)} s. You are watching the recording.`);
      poll();
    } else if (message.type === 'error') {
      state.lastError = message;
      setState('error', `${stream} stopped with an error: ${describeError(message.code, message.message)}`, true);
    }
  };
  socket.onclose = () => {
    state.socketOpen = false;
    // Reconnect (bounded) to follow the stream's next attempt.
    if (retries >= MAX_RETRIES) {
      setState(state.state, 'Lost the connection to the server. Reload the page to try again.', true);
      return;
    }
    // A recording keeps playing and an error stays said while the page reconnects quietly.
    if (state.state === 'live' || state.state === 'waiting') showLive();
    retries += 1;
    setTimeout(connect, Math.min(1000 * 2 ** (retries - 1), MAX_RETRY_DELAY_MS));
  };
}

/** A sentence for a dash.js ERROR / PLAYBACK_ERROR event. */
function describePlayerError(event) {
  const error = event && event.error;
  const detail = (error && (error.message || error.code)) || (event && event.type) || 'unknown error';
  return `the player reported "${detail}". Reload the page to try again.`;
}

// --- Sound -------------------------------------------------------------------------------------------

function showSound() {
  const muted = playback.muted || playback.volume === 0;
  $('unmute').textContent = muted ? 'Unmute' : 'Mute';
  $('unmute').setAttribute('aria-pressed', String(!muted));
  $('unmute').classList.toggle('primary', muted);
}
$('unmute').addEventListener('click', () => {
  playback.muted = !playback.muted;
  if (!playback.muted && playback.volume === 0) playback.volume = 1;
  playback.play().catch(() => { /* nothing loaded yet */ });
});
playback.addEventListener('volumechange', showSound);
showSound();

// --- Latency and the live edge -------------------------------------------------------------------------

/** Server clock minus this browser's, from /time (measured once, halfway through the request). */
let clockOffsetMs = null;
async function measureClock() {
  try {
    const sent = Date.now();
    const text = await (await fetch('/time', { cache: 'no-store' })).text();
    const received = Date.now();
    const server = Date.parse(text.trim());
    if (Number.isFinite(server)) clockOffsetMs = server - (sent + received) / 2;
  } catch { /* retried on the next tick */ }
}

/** Seconds between the camera and what plays now, or NaN when that can't be known. */
function latencySeconds() {
  if (state.ended || !state.player || clockOffsetMs === null || !state.startedAtMs) return NaN;
  if (playback.readyState < 2) return NaN;
  return (Date.now() + clockOffsetMs - state.startedAtMs) / 1000 - playback.currentTime;
}

function showLatency() {
  let latency = latencySeconds();
  if (!Number.isFinite(latency) && state.player && !state.ended) {
    try { latency = state.player.getCurrentLiveLatency(); } catch { latency = NaN; }
  }
  state.latency = Number.isFinite(latency) ? latency : null;
  $('latency').textContent = state.ended ? 'Recording' : state.latency === null ? '–' : `${state.latency.toFixed(1)} s behind live`;
  let target = NaN;
  try { target = state.player ? state.player.targetLatency() : NaN; } catch { /* not initialised yet */ }
  state.behind = state.latency !== null && Number.isFinite(target) && target > 0
    && state.latency > Math.max(BEHIND_FACTOR * target, target + BEHIND_MIN_SECONDS);
  const wasHidden = $('live-edge').hidden;
  $('live-edge').hidden = !state.behind || state.state !== 'live';
  // Keep keyboard focus somewhere useful when the focused button disappears.
  if (!wasHidden && $('live-edge').hidden && document.activeElement === $('live-edge')) $('unmute').focus();
}
$('live-edge').addEventListener('click', () => {
  state.player?.goToLive();
  setTimeout(showLatency, 300);
});
setInterval(showLatency, 500);

// --- The audience and the recording --------------------------------------------------------------------

async function poll() {
  let entry;
  try {
    const response = await fetch(`/api/streams/${encodeURIComponent(stream)}`, { cache: 'no-store' });
    if (!response.ok) return;
    entry = await response.json();
  } catch {
    return;
  }
  state.viewers = entry.viewers;
  $('viewers').textContent = `${entry.viewers}`;
  state.startedAtMs = Date.parse(entry.startedAt);
  const publisherConnected = entry.publisherConnected !== false;
  if (publisherConnected !== state.publisherConnected) {
    state.publisherConnected = publisherConnected;
    if (state.state === 'live' || state.state === 'reconnecting') showLive();
  }
  if (state.ended && entry.state === 'ended' && entry.recordingUrl) {
    state.recordingUrl = entry.recordingUrl;
    const link = $('download');
    const format = entry.recordingUrl.endsWith('.webm') ? 'WebM' : 'MP4';
    link.href = entry.recordingUrl;
    link.textContent = `Download the recording (${format})`;
    link.hidden = false;
  }
}

measureClock();
setInterval(() => { if (clockOffsetMs === null) measureClock(); }, 5000);
poll();
setInterval(poll, POLL_MS);
connect();
