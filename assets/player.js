// The player, set up the same way on both pages. dash.js by default: low latency when the MPD says so
// (dash.js 5 switches it on from availabilityTimeComplete="false"), the live delay from the MPD's
// ServiceDescription, and the clock from this server's /time, so no outside time server is ever contacted.
// HLS from the same segments (`master.m3u8`): native where Media Source Extensions are missing but the
// browser plays HLS itself (iPhone Safari before 17.1), and hls.js in low-latency mode with `?player=hls`.
// VP8 streams have no HLS; the server's 404 says so and the pages show that sentence.

/* global dashjs, Hls */

/**
 * How far behind live to play a presentation of whole segments (normal mode): a segment appears only
 * once finished and listed by the next manifest refresh, so aiming one segment back, as the MPD
 * suggests, stalls at segment boundaries. Low latency takes its target from the MPD's ServiceDescription.
 */
const NORMAL_MODE_DELAY_SEGMENTS = 2;

/**
 * Where low latency starts, in seconds behind the live edge, and how much it buffers before the first
 * frame: at the MPD's target (0.6 s by default) the first fragments leave no room on a busy machine, and
 * playback stalls right after it starts. Once playing, the target goes back to the MPD's and dash.js's
 * catch-up closes the gap gently (at most +20 % speed), with the buffer to spare while it does.
 */
const LOW_LATENCY_START_DELAY = 2;
const LOW_LATENCY_START_BUFFER = 1;

/** How long low latency plays at its start delay before catching up: the page's busiest seconds. */
const LOW_LATENCY_CATCH_UP_AFTER_MS = 3000;

/**
 * The least delay low latency aims at behind the MPD's timeline (dash.js's live edge): a segment may
 * be asked for 0.2 s after its start (availabilityTimeOffset), which leaves 0.5 s to fetch its first
 * fragment, whose keyframe may itself still be crossing a slow uplink. Through 600 kbit/s on a busy
 * machine the player stalled at every segment boundary at 0.4 s, every few seconds at 0.5–0.6 s, and
 * about once a minute at 0.7 s. dash.js takes the MPD's ServiceDescription target as
 * glass-to-glass and subtracts how late the MPD's clock starts after the capture (availabilityStartTime
 * minus the ProducerReferenceTime's wall clock: the first frames' upload). On a slow uplink that is
 * more than the target (a 2.5 Mbit/s keyframe takes a second through 600 kbit/s) and dash.js then
 * drops the ServiceDescription for four segments behind (8 s), and just under it leaves a delay too
 * small to play; so the page computes the delay itself and keeps at least this.
 */
const LOW_LATENCY_MIN_DELAY = 0.7;

/**
 * A clock that starts this little late (the target minus its lateness is at least this) is a fast
 * uplink's: its segments arrive as promptly as its first frames did, and dash.js's own choice (NaN:
 * the ServiceDescription's target, minus that lateness) played at 0.84 s glass-to-glass without a
 * stall. Aiming at that figure ourselves stalled. Below this the first keyframe crawled up a slow
 * link, and the next ones will too: LOW_LATENCY_MIN_DELAY.
 */
const FAST_UPLINK_MIN_DELAY = 0.25;

/** Seconds behind the target delay after which the player seeks back to live instead of catching up
 *  (5 s behind would take 10 s at +50 %). A seek stalls for a moment (from the keyframe before): at
 *  1.5 s a publisher's 1.5 s outage, already one stall, was followed by a second one, the seek, on a
 *  busy machine (3 of 4 runs of the resume test); at 2 s the player catches up smoothly instead. */
const MAX_DRIFT_SECONDS = 2;

/** The most dash.js's catch-up speeds up playback (+50 %), see the liveCatchup setting. */
const CATCH_UP_RATE = 0.5;

/**
 * A live player that waits with at least this much buffered ahead is not waiting for data: it stands in
 * a hole of the timeline. When a publisher's new recording continues the presentation (a change of
 * bitrate, a reconnect that could not resume), its first frames sit where the wall clock says, after the
 * old recording's last ones; Chromium's Media Source reports one buffered range across the hole, yet
 * the video element waits in it, again and again until a seek (measured through a 600 kbit/s uplink:
 * two or three such waits of 0.2–1 s after each switch). A plain wait for data (an outage) has nothing
 * buffered ahead.
 */
const HOLE_BUFFER_SECONDS = 0.5;

/**
 * A jump over a hole waits until at least this much arrived after the end of what was buffered when the
 * element waited, and lands at dash.js's live target, but never before that end (the hole ends before it:
 * the buffer reached past it, so the landing is in the new recording's frames) nor with less than this
 * buffered ahead. Jumping to the live target at once landed in the hole when the new recording had
 * brought less than the target's worth (measured: 0.2–0.4 s of it): that seek took 1.1–1.5 s, and the
 * element waited again where the new frames begin, for a second jump.
 */
const HOLE_LANDING_SECONDS = 0.4;

/** How often, and how many times at most, a wait in a hole looks whether enough arrived to land. */
const HOLE_CHECK_MS = 100;
const HOLE_CHECKS = 50;

/** After a jump over a hole, the next waits this soon are the seek's own (their buffer is the old one). */
const HOLE_JUMP_QUIET_MS = 1000;

/** What the manifest says about how to play it: chunked low latency, or whole segments of what length. */
async function inspectManifest(url) {
  try {
    const text = await (await fetch(url, { cache: 'no-store' })).text();
    const mpd = new DOMParser().parseFromString(text, 'application/xml').documentElement;
    const lowLatency = text.includes('availabilityTimeComplete="false"');
    const match = /PT([\d.]+)S/.exec(mpd.getAttribute('maxSegmentDuration') || '');
    const latency = mpd.getElementsByTagName('Latency')[0];
    const targetSeconds = latency ? Number(latency.getAttribute('target')) / 1000 : NaN;
    return {
      live: mpd.getAttribute('type') === 'dynamic', lowLatency, segmentSeconds: match ? Number(match[1]) : NaN, targetSeconds,
      clockLateSeconds: clockLate(mpd),
    };
  } catch {
    return { live: true, lowLatency: true, segmentSeconds: NaN, targetSeconds: NaN, clockLateSeconds: NaN };
  }
}

/** How many seconds after the capture of presentation time 0 the MPD's clock starts
 *  (availabilityStartTime minus the first ProducerReferenceTime's wall clock); NaN if it doesn't say. */
function clockLate(mpd) {
  const reference = mpd.getElementsByTagName('ProducerReferenceTime')[0];
  const template = reference && reference.parentElement.getElementsByTagName('SegmentTemplate')[0];
  if (!template) return NaN;
  const captured = Date.parse(reference.getAttribute('wallClockTime'))
    - (Number(reference.getAttribute('presentationTime') || 0) / Number(template.getAttribute('timescale') || 1)) * 1000;
  return (Date.parse(mpd.getAttribute('availabilityStartTime')) - captured) / 1000;
}

/** `dash`, `hls` (hls.js) or `native` (the browser's own HLS): `?player=` decides, else what the browser can do. */
export function choosePlayer(video) {
  const asked = new URLSearchParams(location.search).get('player');
  if (asked === 'hls' || asked === 'dash' || asked === 'native') return asked;
  const mediaSource = 'MediaSource' in window || 'ManagedMediaSource' in window;
  return !mediaSource && video.canPlayType('application/vnd.apple.mpegurl') ? 'native' : 'dash';
}

/** Loads the embedded hls.js once, only for the pages that use it. */
let hlsScript = null;
function loadHlsJs() {
  hlsScript ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = '/assets/hls.min.js';
    script.onload = () => resolve(window.Hls);
    script.onerror = () => reject(new Error('could not load /assets/hls.min.js'));
    document.head.append(script);
  });
  return hlsScript;
}

/**
 * Starts playing `manifestUrl` (the MPD; HLS players take `master.m3u8` beside it) in `video`. Resolves
 * to a player with `name`, `reset()`, `isReady()`, `getCurrentLiveLatency()`, `targetLatency()` (seconds
 * behind live it aims at, NaN if unknown), `goToLive()` (jump to its live target) and `errors` (fatal
 * errors seen); rejects with the server's sentence when the stream has no HLS (VP8).
 */
export async function startPlayer(video, manifestUrl, { onEvent } = {}) {
  const absoluteManifest = new URL(manifestUrl, location.href);
  const kind = choosePlayer(video);
  if (kind !== 'dash') {
    const master = new URL('master.m3u8', absoluteManifest).href;
    const response = await fetch(master, { cache: 'no-store' });
    if (!response.ok) throw new Error((await response.text()).trim());
    return kind === 'hls' ? startHlsJs(video, master, onEvent) : startNative(video, master, onEvent);
  }
  return startDash(video, absoluteManifest, onEvent);
}

async function startDash(video, absoluteManifest, onEvent) {
  const manifest = await inspectManifest(absoluteManifest.href);
  const wholeSegments = manifest.live && !manifest.lowLatency && manifest.segmentSeconds > 0;
  const lowLatencyStart = manifest.live && manifest.lowLatency;
  const player = dashjs.MediaPlayer().create();
  let startDelay = NaN;
  if (wholeSegments) startDelay = NORMAL_MODE_DELAY_SEGMENTS * manifest.segmentSeconds;
  // A target already further back than the start delay needs no head start.
  if (lowLatencyStart) startDelay = Math.max(LOW_LATENCY_START_DELAY, manifest.targetSeconds || 0);
  player.updateSettings({
    debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING },
    streaming: {
      // NaN takes the target from the MPD (ServiceDescription in low latency).
      delay: { liveDelay: startDelay },
      // Only honoured when below the live delay: dash.js waits for this much before the first frame.
      buffer: { initialBufferLevel: lowLatencyStart ? LOW_LATENCY_START_BUFFER : NaN },
      // Steer towards the target in both directions; dash.js does this only in low-latency mode by
      // default, which would leave a whole-segment stream that started early stalling at every segment.
      // Slowing down stays gentle (-20 %); catching up may go to +50 % (dash.js's own default): its rate
      // follows a steep curve of the distance, so it is near +50 % only when half a second or more behind,
      // and a player a change of bitrate left 1.5 s behind is back in about 3 s instead of 8 s at +20 %.
      liveCatchup: { enabled: true, playbackRate: { min: -0.2, max: CATCH_UP_RATE }, maxDrift: MAX_DRIFT_SECONDS },
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
  if (lowLatencyStart) {
    // Back to the MPD's target once playback is under way: dash.js's own choice on a fast uplink, at
    // least LOW_LATENCY_MIN_DELAY on a slow one (see FAST_UPLINK_MIN_DELAY); dash.js
    // recomputes its live delay on this. The MPD is read again: its ProducerReferenceTime appears only
    // once the first segment is written. Without a target or that time to go by, dash.js decides (NaN).
    const catchUp = () => {
      player.off(dashjs.MediaPlayer.events.PLAYBACK_PLAYING, catchUp);
      setTimeout(async () => {
        const { targetSeconds, clockLateSeconds } = await inspectManifest(absoluteManifest.href);
        const aimed = targetSeconds - Math.max(clockLateSeconds, 0);
        const delay = aimed < FAST_UPLINK_MIN_DELAY ? LOW_LATENCY_MIN_DELAY : NaN;
        player.updateSettings({ streaming: { delay: { liveDelay: delay } } });
      }, LOW_LATENCY_CATCH_UP_AFTER_MS);
    };
    player.on(dashjs.MediaPlayer.events.PLAYBACK_PLAYING, catchUp);
  }
  player.initialize(video, absoluteManifest.href, true);
  player.name = 'dash.js';
  player.targetLatency = () => player.getTargetLiveDelay();
  player.goToLive = () => { player.seekToOriginalLive(); video.play().catch(() => {}); };
  let holeJumpedAt = -Infinity;
  let landing = null;
  video.addEventListener('waiting', () => {
    if (landing || video.seeking || !player.isDynamic() || performance.now() - holeJumpedAt < HOLE_JUMP_QUIET_MS) return;
    // Nothing to jump at the start (the player is at its start delay) or when the hole is behind it.
    const behind = player.getCurrentLiveLatency() - player.getTargetLiveDelay();
    if (bufferedAhead(video) < HOLE_BUFFER_SECONDS || !(behind > HOLE_BUFFER_SECONDS)) return;
    const holeEndsBefore = bufferedEnd(video);
    let checks = 0;
    landing = setInterval(() => {
      checks += 1;
      const end = bufferedEnd(video);
      if (end < holeEndsBefore + HOLE_LANDING_SECONDS && checks < HOLE_CHECKS) return;
      clearInterval(landing);
      landing = null;
      // Played out of the hole by itself meanwhile, or never got more to land on: no seek.
      if (video.currentTime >= holeEndsBefore || end < holeEndsBefore + HOLE_LANDING_SECONDS) return;
      holeJumpedAt = performance.now();
      const liveTarget = video.currentTime + player.getCurrentLiveLatency() - player.getTargetLiveDelay();
      video.currentTime = Math.max(holeEndsBefore, Math.min(end - HOLE_LANDING_SECONDS, liveTarget));
    }, HOLE_CHECK_MS);
  });
  player.errors = [];
  player.on(dashjs.MediaPlayer.events.ERROR, (event) => {
    player.errors.push(event.error);
    // After a publisher's outage the server's segment numbers follow the wall clock, so a number
    // that fell in the outage never exists. dash.js gives up on it (after 15 quick retries in
    // low-latency mode) and would stay stuck before the hole: jump to the live edge instead.
    const request = event.error && event.error.data && event.error.data.request;
    if (request && request.type === 'MediaSegment' && player.isDynamic()) player.seekToOriginalLive();
  });
  return player;
}

/** Seconds buffered after the playback position, in the range that holds it (0 if none does). */
function bufferedAhead(video) {
  const { buffered, currentTime } = video;
  for (let i = 0; i < buffered.length; i += 1) {
    if (buffered.start(i) <= currentTime && currentTime < buffered.end(i)) return buffered.end(i) - currentTime;
  }
  return 0;
}

/** The end of the buffered range that holds the playback position (the position itself if none does). */
function bufferedEnd(video) {
  return video.currentTime + bufferedAhead(video);
}

/** hls.js in low-latency mode: parts, blocking reload, and the hold-back the playlist asks for. */
async function startHlsJs(video, master, onEvent) {
  await loadHlsJs();
  // Like dash.js's live catch-up: play up to 1.2× when behind the playlist's PART-HOLD-BACK target
  // (hls.js never speeds up by default, so a late start would stay late).
  const hls = new Hls({ lowLatencyMode: true, backBufferLength: 30, maxLiveSyncPlaybackRate: 1.2 });
  const player = {
    name: 'hls.js',
    errors: [],
    hls,
    reset: () => hls.destroy(),
    isReady: () => hls.media !== null && hls.levels.length > 0,
    getCurrentLiveLatency: () => hls.latency,
    targetLatency: () => hls.targetLatency ?? NaN,
    goToLive: () => {
      if (Number.isFinite(hls.liveSyncPosition)) video.currentTime = hls.liveSyncPosition;
      video.play().catch(() => {});
    },
  };
  hls.on(Hls.Events.ERROR, (_, data) => {
    if (data.fatal) player.errors.push(`${data.type}: ${data.details}`);
    if (data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) onEvent?.('BUFFER_EMPTY', data);
    else onEvent?.('ERROR', data);
  });
  hls.loadSource(master);
  hls.attachMedia(video);
  video.play().catch(() => { /* autoplay may wait for a gesture */ });
  return player;
}

/** The browser's own HLS (Safari): it does its own live timing. */
function startNative(video, master, onEvent) {
  const player = {
    name: 'native HLS',
    errors: [],
    reset: () => { video.removeAttribute('src'); video.load(); },
    isReady: () => video.readyState > 0,
    getCurrentLiveLatency: () => NaN,
    targetLatency: () => NaN,
    goToLive: () => {
      if (video.seekable.length) video.currentTime = video.seekable.end(video.seekable.length - 1);
      video.play().catch(() => {});
    },
  };
  video.onwaiting = () => onEvent?.('BUFFER_EMPTY');
  video.onerror = () => player.errors.push(video.error?.message || 'media error');
  video.src = master;
  video.play().catch(() => { /* autoplay may wait for a gesture */ });
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
