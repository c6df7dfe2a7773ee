// The publisher page's live figures: how long the stream has been live, how many people watch it now (the
// `viewers` field of this stream's `/api/streams` entry, polled), and the glass-to-glass latency of what
// viewers see. Reads the page's `window.livedash` state; writes only the #uptime, #viewers and #latency
// lines and `stats.viewers`.

/** How often the page asks the server how many people watch. */
const VIEWERS_POLL_MS = 3000;
/** How often the uptime and the viewer count are redrawn: the uptime shows whole seconds. */
const REDRAW_MS = 1000;
/** How often the latency line is redrawn: often enough to follow the player catching up. */
const LATENCY_REDRAW_MS = 500;

const $ = (id) => document.getElementById(id);

function formatDuration(ms) {
  const total = Math.floor(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/**
 * Keeps the live figures up to date for the page's lifetime. `stats` is `window.livedash` (its `stream`,
 * `liveSince` and `latency()`); `isLive()` says whether the page is publishing now.
 */
export function showLiveInfo(stats, isLive) {
  /** Sets `stats.viewers`: null until the server reports the count, and again when it can't be asked. */
  async function pollViewers() {
    if (!isLive()) return;
    try {
      const list = await (await fetch('/api/streams', { cache: 'no-store' })).json();
      const entry = list.find((e) => e.stream === stats.stream);
      stats.viewers = entry && typeof entry.viewers === 'number' ? entry.viewers : null;
    } catch {
      stats.viewers = null;
    }
  }

  function redraw() {
    const since = stats.liveSince;
    $('uptime').hidden = since === null;
    $('uptime').textContent = since === null ? '' : `Live for ${formatDuration(Date.now() - since)}`;
    const viewers = isLive() ? stats.viewers : null;
    $('viewers').hidden = viewers === null;
    $('viewers').textContent = viewers === null ? '' : `${viewers} watching now`;
  }

  setInterval(() => {
    const latency = stats.latency();
    $('latency').textContent = latency === null ? '' : `Glass-to-glass latency ≈ ${latency.toFixed(2)} s`;
  }, LATENCY_REDRAW_MS);
  setInterval(redraw, REDRAW_MS);
  setInterval(pollViewers, VIEWERS_POLL_MS);
}
