// The stream list: live streams (thumbnail, name, uptime, viewers) and recent recordings, each a link to
// its viewer page, from /api/streams polled every 2 s. Cards are kept and updated in place (a thumbnail is
// fetched again only when its URL changes), so the list doesn't flicker and keyboard focus stays put.

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;
/** Recordings shown, newest first. */
const MAX_RECORDINGS = 50;

const cards = new Map();
window.livedash = { streams: [], polls: 0 };

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, '0');
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

function watching(n) {
  return `${n} watching`;
}

/** A card: one link (the whole card) to the stream's viewer page. */
function makeCard(stream) {
  const item = document.createElement('li');
  item.className = 'card';
  item.dataset.stream = stream;
  const link = document.createElement('a');
  link.href = `/watch/${encodeURIComponent(stream)}`;
  const picture = document.createElement('div');
  picture.className = 'thumbnail';
  const img = document.createElement('img');
  img.alt = '';
  img.hidden = true;
  const badge = document.createElement('span');
  badge.className = 'badge';
  picture.append(img, badge);
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = stream;
  const facts = document.createElement('span');
  facts.className = 'facts-line';
  link.append(picture, name, facts);
  item.append(link);
  return { item, link, img, badge, facts, thumbnailUrl: null };
}

function update(card, entry) {
  const live = entry.state === 'live' || entry.state === 'starting';
  const away = live && entry.publisherConnected === false;
  card.badge.textContent = entry.state === 'live' ? (away ? 'Reconnecting' : 'Live') : entry.state === 'starting' ? 'Starting' : entry.state === 'ended' ? 'Recording' : 'Failed';
  card.badge.dataset.state = away ? 'reconnecting' : entry.state;
  const parts = [];
  if (live) parts.push(`live for ${duration(entry.uptimeSeconds ?? 0)}`);
  if (entry.state === 'ended') parts.push(`${duration(entry.durationSeconds)} long`);
  parts.push(watching(entry.viewers));
  card.facts.textContent = parts.join(' · ');
  card.link.setAttribute('aria-label', `${entry.stream}: ${card.badge.textContent.toLowerCase()}, ${parts.join(', ')}`);
  if (entry.thumbnailUrl !== card.thumbnailUrl) {
    card.thumbnailUrl = entry.thumbnailUrl;
    if (entry.thumbnailUrl) card.img.src = entry.thumbnailUrl;
    card.img.hidden = !entry.thumbnailUrl;
  }
}

function render(entries) {
  const live = entries.filter((e) => e.state === 'live' || e.state === 'starting')
    .sort((a, b) => (b.viewers - a.viewers) || a.stream.localeCompare(b.stream));
  const recordings = entries.filter((e) => e.state === 'ended')
    .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt))
    .slice(0, MAX_RECORDINGS);
  const shown = new Set();
  for (const [list, group] of [[$('live'), live], [$('recordings'), recordings]]) {
    let previous = null;
    for (const entry of group) {
      let card = cards.get(entry.stream);
      if (!card) {
        card = makeCard(entry.stream);
        cards.set(entry.stream, card);
      }
      update(card, entry);
      shown.add(entry.stream);
      // Moved only when out of place, so a focused card keeps its focus.
      const wanted = previous ? previous.nextSibling : list.firstChild;
      if (card.item.parentNode !== list || wanted !== card.item) list.insertBefore(card.item, wanted);
      previous = card.item;
    }
  }
  for (const [stream, card] of cards) {
    if (!shown.has(stream)) {
      card.item.remove();
      cards.delete(stream);
    }
  }
  $('no-live').hidden = live.length > 0;
  $('no-recordings').hidden = recordings.length > 0;
}

async function poll() {
  try {
    const response = await fetch('/api/streams', { cache: 'no-store' });
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    const entries = await response.json();
    window.livedash.streams = entries;
    window.livedash.polls += 1;
    render(entries);
    $('status').textContent = `Updated ${new Date().toLocaleTimeString()}.`;
    $('status').classList.remove('error');
  } catch (error) {
    $('status').textContent = `Could not load the list of streams (${error.message}); trying again…`;
    $('status').classList.add('error');
  }
}

poll();
setInterval(poll, POLL_MS);
