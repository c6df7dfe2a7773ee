// dash.js set up the same way on both pages: low latency when the MPD says so (dash.js 5 switches it on
// from availabilityTimeComplete="false"), the live delay from the MPD's ServiceDescription, and the
// clock from this server's /time, so no outside time server is ever contacted.

/* global dashjs */

/**
 * How far behind live to play a presentation of whole segments (normal mode): a segment appears only
 * once finished and listed by the next manifest refresh, so aiming one segment back, as the MPD
 * suggests, stalls at segment boundaries. Low latency takes its target from the MPD's ServiceDescription.
 */
const NORMAL_MODE_DELAY_SEGMENTS = 2;

/** What the manifest says about how to play it: chunked low latency, or whole segments of what length. */
async function inspectManifest(url) {
  try {
    const text = await (await fetch(url, { cache: 'no-store' })).text();
    const mpd = new DOMParser().parseFromString(text, 'application/xml').documentElement;
    const lowLatency = text.includes('availabilityTimeComplete="false"');
    const match = /PT([\d.]+)S/.exec(mpd.getAttribute('maxSegmentDuration') || '');
    return { live: mpd.getAttribute('type') === 'dynamic', lowLatency, segmentSeconds: match ? Number(match[1]) : NaN };
  } catch {
    return { live: true, lowLatency: true, segmentSeconds: NaN };
  }
}

/** Starts playing `manifestUrl` in `video`; resolves to the dash.js player. */
export async function startPlayer(video, manifestUrl, { onEvent } = {}) {
  const absoluteManifest = new URL(manifestUrl, location.href);
  const manifest = await inspectManifest(absoluteManifest.href);
  const wholeSegments = manifest.live && !manifest.lowLatency && manifest.segmentSeconds > 0;
  const player = dashjs.MediaPlayer().create();
  player.updateSettings({
    debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING },
    streaming: {
      // NaN takes the target from the MPD (ServiceDescription in low latency).
      delay: { liveDelay: wholeSegments ? NORMAL_MODE_DELAY_SEGMENTS * manifest.segmentSeconds : NaN },
      // Steer gently towards the target in both directions; dash.js does this only in low-latency mode
      // by default, which would leave a whole-segment stream that started early stalling at every segment.
      liveCatchup: { enabled: true, playbackRate: { min: -0.2, max: 0.2 } },
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
