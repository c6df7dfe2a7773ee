// A publisher of our own, not the publisher page: a real WebSocket from a page of the server's origin
// (Node 20 has no WebSocket client) that sends a recorder fixture at real-time pace and thumbnail
// messages, the way the publisher page does.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const fixture = (name) => join(root, 'tests', 'fixtures', name);

/**
 * Opens a page on `server` and publishes `recorder/<file>` (`mimeType`) to `stream` over `seconds`,
 * sending `thumbnails/<thumbnail>` once accepted. Resolves once accepted; `done` resolves with the
 * publisher's last message (`ended` or `error`).
 */
export async function publishFixture(browser, server, stream, {
  file = 'h264-opus-10s.mkv', mimeType = 'video/x-matroska;codecs=avc1,opus', seconds = 10, thumbnail = 'testsrc-160x90.jpg',
} = {}) {
  const page = await browser.newPage();
  await page.goto(`${server.url}/healthz`);
  const media = readFileSync(fixture(join('recorder', file))).toString('base64');
  const picture = thumbnail ? readFileSync(fixture(join('thumbnails', thumbnail))).toString('base64') : null;
  await page.evaluate(({ stream, media, picture, mimeType, seconds }) => {
    const bytes = Uint8Array.from(atob(media), (c) => c.charCodeAt(0));
    const socket = new WebSocket(`ws://${location.host}/ws/publish/${stream}`);
    window.publisher = { messages: [] };
    window.accepted = new Promise((resolveAccepted) => {
      window.done = new Promise((resolveDone) => {
        socket.onopen = () => socket.send(JSON.stringify({ type: 'start', mimeType }));
        socket.onmessage = async (event) => {
          const message = JSON.parse(event.data);
          window.publisher.messages.push(message);
          if (message.type === 'ended' || message.type === 'error') resolveDone(message);
          if (message.type !== 'accepted') return;
          resolveAccepted(message);
          if (picture) socket.send(JSON.stringify({ type: 'thumbnail', data: picture }));
          const pieces = 100;
          const size = Math.ceil(bytes.length / pieces);
          const started = performance.now();
          for (let i = 0; i < pieces; i += 1) {
            const wait = started + (seconds * 1000 * i) / pieces - performance.now();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
            socket.send(bytes.subarray(i * size, (i + 1) * size));
          }
          socket.send(JSON.stringify({ type: 'stop' }));
        };
        socket.onclose = () => resolveDone({ type: 'closed' });
      });
    });
  }, { stream, media, picture, mimeType, seconds });
  await page.evaluate(() => window.accepted);
  // A publisher page closed by the test ends as 'closed', like a socket that went away.
  return { page, done: page.evaluate(() => window.done).catch(() => ({ type: 'closed' })) };
}
