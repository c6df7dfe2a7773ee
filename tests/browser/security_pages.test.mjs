// The pages fail in words, not silently or in a loop: a viewer of a failed stream backs off instead of
// reconnecting every second forever, and a recorder that can't start is explained on the page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserAndServer as setUp } from './lib/server.mjs';
import { waitInPage, statusText } from './lib/pages.mjs';

test('a viewer of a failed stream backs off instead of reconnecting every second', async (t) => {
  // The access log counts the viewer's connections.
  const { browser, server } = await setUp(t, ['--access-log']);
  const page = await browser.newPage();
  await page.goto(`${server.url}/watch/broken`);
  // A real publisher sending garbage: the stream fails with invalid_data.
  const failed = await page.evaluate(() => new Promise((resolve) => {
    const socket = new WebSocket(`ws://${location.host}/ws/publish/broken`);
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: 'start', mimeType: 'video/webm;codecs=vp8,opus' }));
      socket.send(new Uint8Array(64 * 1024).fill(7));
    };
    socket.onmessage = (event) => { if (JSON.parse(event.data).type === 'error') resolve(JSON.parse(event.data).code); };
    setTimeout(() => resolve('no error'), 20_000);
  }));
  assert.equal(failed, 'invalid_data');
  await waitInPage(page, () => window.livedash.state === 'error', null, { what: 'the viewer shows the error' });
  // Counted by the server: every viewer socket is a logged request.
  const connections = () => server.log().split('\n').filter((line) => line.includes('GET /ws/watch/broken')).length;
  const before = connections();
  await new Promise((resolve) => setTimeout(resolve, 20_000));
  const after = connections();
  // Backing off (1, 2, 4, 8 s…) makes about 4 connections in 20 s; a reset on every open makes ~10.
  assert.ok(after - before <= 6, `the viewer reconnected ${after - before} times in 20 s`);
  assert.match(await statusText(page), /broken stopped with an error/);
});

test('a recorder that cannot start is explained on the publisher page', async (t) => {
  const { browser, server } = await setUp(t);
  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  // A format the browser's real MediaRecorder refuses.
  await page.evaluate(() => {
    const codec = document.getElementById('codec');
    codec.append(new Option('not a format', 'video/not-a-format'));
    codec.value = 'video/not-a-format';
  });
  await page.fill('#stream', 'refused-format');
  await page.click('#start');
  await waitInPage(page, () => window.livedash.state === 'error', null, { what: 'the recorder error' });
  assert.match(await statusText(page), /could not record video\/not-a-format/);
  assert.equal(await page.isEnabled('#start'), true, 'the publisher can pick another format and start again');
});
