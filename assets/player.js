// dash.js set up the same way on both pages: low latency when the MPD says so (dash.js 5 switches it on
// from availabilityTimeComplete="false"), the live delay from the MPD's ServiceDescription, and the
// clock from this server's /time, so no outside time server is ever contacted.

/* global dashjs */

/** Starts playing `manifestUrl` in `video`; returns the dash.js player. */
export function startPlayer(video, manifestUrl, { onEvent } = {}) {
  const absoluteManifest = new URL(manifestUrl, location.href);
  const player = dashjs.MediaPlayer().create();
  player.updateSettings({
    debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING },
    streaming: {
      // NaN: take the target from the MPD (ServiceDescription in low latency, else suggestedPresentationDelay).
      delay: { liveDelay: NaN, useSuggestedPresentationDelay: true },
      // Catch up gently when behind the target; on by default in low-latency mode only.
      liveCatchup: { playbackRate: { min: -0.2, max: 0.2 } },
      utcSynchronization: {
        defaultTimingSource: {
          scheme: 'urn:mpeg:dash:utc:http-xsdate:2014',
          value: new URL('/time', absoluteManifest).href,
        },
      },
    },
  });
  if (onEvent) {
    const events = dashjs.MediaPlayer.events;
    for (const name of ['BUFFER_EMPTY', 'PLAYBACK_ERROR', 'ERROR', 'PLAYBACK_ENDED', 'DYNAMIC_TO_STATIC', 'STREAM_INITIALIZED']) {
      player.on(events[name], (event) => onEvent(name, event));
    }
  }
  player.initialize(video, absoluteManifest.href, true);
  return player;
}

/** Human words for a server error code. */
export function describeError(code, message) {
  const hints = {
    bad_request: 'The page and the server disagree about the protocol.',
    unsupported_media: 'Pick another format.',
    invalid_data: 'The recording could not be read.',
    unauthorized: 'This server needs a publish token.',
    stream_busy: 'Someone is already live with this stream name: pick another.',
    too_large: 'A limit of this server was reached.',
    internal: 'The server had a problem.',
  };
  return `${hints[code] || 'Error.'} (${message})`;
}

/** The WebSocket URL for a path on this server. */
export function socketUrl(path) {
  const url = new URL(path, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}
