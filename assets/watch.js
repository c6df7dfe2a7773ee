// The viewer page: waits for the stream, plays it once the manifest is ready (dash.js; HLS where MSE is
// missing or with `?player=hls`, see player.js), says when it ended and keeps playing the recording. Follows the stream's next presentation if it goes live again.

import { startPlayer, describeError, socketUrl } from './player.js';

const $ = (id) => document.getElementById(id);
const stream = decodeURIComponent(location.pathname.split('/').pop());
const playback = $('playback');
document.title = `livedash — ${stream}`;
$('title').textContent = `Watching ${stream}`;

const state = (window.livedash = {
  state: 'connecting', player: null, stalls: 0, ended: false, lastError: null, playerError: null, connects: 0,
});
// Reconnects back off and count towards the limit until the stream shows progress (manifest_ready or
// ended), not merely until a socket opens: after a stream error the server sends the error again and
// closes, and resetting on open would reconnect every second forever.
let retries = 0;
const MAX_RETRIES = 100;
const MAX_RETRY_DELAY_MS = 30_000;

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

function connect() {
  const socket = new WebSocket(socketUrl(`/ws/watch/${encodeURIComponent(stream)}`));
  state.connects += 1;
  socket.onopen = () => {
    if (!state.player && state.state !== 'error') {
      state.state = 'waiting';
      setStatus(`Waiting for ${stream} to go live…`);
    }
  };
  socket.onmessage = async (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      setStatus('The server sent a message this page cannot read. Reload the page to try again.', true);
      return;
    }
    if (message.type === 'manifest_ready' || message.type === 'ended') retries = 0;
    if (message.type === 'manifest_ready') {
      state.state = 'live';
      state.playerError = null;
      state.ended = false;
      setStatus(`${stream} is live.`);
      if (state.player) state.player.reset();
      state.player = null;
      try {
        state.player = await startPlayer(playback, message.manifestUrl, {
          onEvent(name, event) {
            if (name === 'BUFFER_EMPTY' && !state.ended) state.stalls += 1;
            if (name === 'ERROR' || name === 'PLAYBACK_ERROR') {
              state.playerError = describePlayerError(event);
              setStatus(`${stream} could not be played: ${state.playerError}`, true);
            }
          },
        });
      } catch (error) {
        state.state = 'error';
        state.lastError = { code: 'unplayable', message: error.message };
        setStatus(`${stream} can't be played here: ${error.message}`, true);
      }
    } else if (message.type === 'ended') {
      state.state = 'ended';
      state.ended = true;
      setStatus(`${stream} ended after ${message.durationSeconds.toFixed(1)} s. You are watching the recording.`);
    } else if (message.type === 'error') {
      state.state = 'error';
      state.lastError = message;
      setStatus(`${stream} stopped with an error: ${describeError(message.code, message.message)}`, true);
    }
  };
  socket.onclose = () => {
    // Reconnect (bounded) to follow the stream's next attempt.
    if (retries >= MAX_RETRIES) {
      setStatus('Lost the connection to the server. Reload the page to try again.', true);
      return;
    }
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

setInterval(() => {
  const player = state.player;
  if (!player || state.ended || !player.isReady()) return;
  try {
    const latency = player.getCurrentLiveLatency();
    $('latency').textContent = Number.isFinite(latency) ? `Behind live by ${latency.toFixed(2)} s (${player.name} estimate)` : '';
  } catch { /* not initialised yet */ }
}, 1000);

connect();
