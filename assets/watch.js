// The viewer page: waits for the stream, plays it once the manifest is ready (dash.js; HLS where MSE is
// missing or with `?player=hls`, see player.js), says when it ended and keeps playing the recording. Follows the stream's next presentation if it goes live again.

import { startPlayer, describeError, socketUrl } from './player.js';

const $ = (id) => document.getElementById(id);
const stream = decodeURIComponent(location.pathname.split('/').pop());
const playback = $('playback');
document.title = `livedash — ${stream}`;
$('title').textContent = `Watching ${stream}`;

const state = (window.livedash = { state: 'connecting', player: null, stalls: 0, ended: false, lastError: null });
let retries = 0;
const MAX_RETRIES = 100;

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

function connect() {
  const socket = new WebSocket(socketUrl(`/ws/watch/${encodeURIComponent(stream)}`));
  socket.onopen = () => {
    retries = 0;
    if (!state.player) {
      state.state = 'waiting';
      setStatus(`Waiting for ${stream} to go live…`);
    }
  };
  socket.onmessage = async (event) => {
    const message = JSON.parse(event.data);
    if (message.type === 'manifest_ready') {
      state.state = 'live';
      state.ended = false;
      setStatus(`${stream} is live.`);
      if (state.player) state.player.reset();
      state.player = null;
      try {
        state.player = await startPlayer(playback, message.manifestUrl, {
          onEvent(name) {
            if (name === 'BUFFER_EMPTY' && !state.ended) state.stalls += 1;
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
    setTimeout(connect, Math.min(1000 * retries, 10000));
  };
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
