// A TCP proxy between the browser and livedash, on loopback: tests cut every connection through it at
// once (a dropped network, as the browser and the server each see it) and can refuse new connections
// for a while; the uplink benchmark shapes it like a slow link (a rate limit on the upload direction
// and a one-way delay on both). The kernel here has no netem, so the shaping is done in this process.
import net from 'node:net';

/**
 * Listens on an ephemeral loopback port and forwards to `target` (an http://host:port URL).
 * `uploadKbitPerSecond` (0: unlimited) limits browser → server; `delayMs` delays both directions.
 */
export async function startProxy(target, { uploadKbitPerSecond = 0, delayMs = 0 } = {}) {
  const { hostname, port } = new URL(target);
  const pairs = new Set();
  let refuseUntil = 0;
  const server = net.createServer((client) => {
    if (Date.now() < refuseUntil) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(Number(port), hostname === 'localhost' ? '127.0.0.1' : hostname);
    const pair = { client, upstream };
    pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    shape(client, upstream, { kbitPerSecond: uploadKbitPerSecond, delayMs });
    shape(upstream, client, { kbitPerSecond: 0, delayMs });
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    // http://localhost is a secure context for getUserMedia.
    url: `http://localhost:${server.address().port}`,
    /** Aborts every connection through the proxy with a reset, both towards the browser and the server. */
    cut() {
      for (const { client, upstream } of pairs) {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      }
      pairs.clear();
    },
    /** Resets new connections for `ms` milliseconds (the network stays down for a while). */
    refuseFor(ms) {
      refuseUntil = Date.now() + ms;
    },
    close() {
      this.cut();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Copies `from` → `to`, each chunk leaving `delayMs` after it arrived and no faster than `kbitPerSecond`.
 * Reading stops while too much waits, so TCP pushes back on the sender as a slow link would.
 */
function shape(from, to, { kbitPerSecond, delayMs }) {
  if (!kbitPerSecond && !delayMs) {
    from.pipe(to);
    return;
  }
  const bytesPerMs = kbitPerSecond ? kbitPerSecond / 8 : Infinity;
  // What a slow link's queue holds before TCP pushes back: about 64 KB, like a small router buffer.
  const QUEUE_LIMIT = 64 * 1024;
  const queue = [];
  let queued = 0;
  let busyUntil = 0;
  let timer = null;
  from.on('data', (data) => {
    // The link serialises each chunk after the previous one, then the delay applies.
    const start = Math.max(Date.now(), busyUntil);
    busyUntil = start + data.length / bytesPerMs;
    queue.push({ data, due: busyUntil + delayMs });
    queued += data.length;
    if (queued > QUEUE_LIMIT) from.pause();
    schedule();
  });
  function schedule() {
    if (timer || !queue.length) return;
    timer = setTimeout(flush, Math.max(0, queue[0].due - Date.now()));
  }
  function flush() {
    timer = null;
    const now = Date.now();
    while (queue.length && queue[0].due <= now) {
      const { data } = queue.shift();
      queued -= data.length;
      if (!to.destroyed) to.write(data);
    }
    if (queued <= QUEUE_LIMIT) from.resume();
    schedule();
  }
  from.on('end', () => {
    const finish = () => (queue.length ? setTimeout(finish, 20) : to.end());
    finish();
  });
}
