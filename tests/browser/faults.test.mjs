// Faults and access in a real browser: the publisher page asks for a token when the server needs one
// and says in words when it is wrong; a publisher tab that is closed leaves a finished recording; a
// viewer keeps watching when the publisher's tab is closed and the stream is resumed from a new tab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserAndServer as setUp } from './lib/server.mjs';
import { goLive, waitInPage, waitForPlaybackProgress, statusText } from './lib/pages.mjs';

test('the publisher page asks for the token and explains a wrong one', async (t) => {
  const { browser, server } = await setUp(t, ['--publish-token', 'letmein']);
  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#start:not([disabled])');
  assert.equal(await page.isVisible('#token'), true, 'the token field is shown');
  await page.fill('#stream', 'guarded');
  await page.fill('#token', 'wrong');
  await page.click('#start');
  await waitInPage(page, () => window.livedash.state === 'error', null, { what: 'unauthorized' });
  assert.equal((await page.evaluate(() => window.livedash.lastError)).code, 'unauthorized');
  assert.match(await statusText(page), /needs a publish token/);

  await page.fill('#token', 'letmein');
  await page.click('#start');
  await waitInPage(page, () => window.livedash.state === 'live', null, { what: 'live with the token' });
  await page.click('#stop');
  await waitInPage(page, () => window.livedash.state === 'ended', null, { what: 'ended' });
});

test('closing the publisher tab finalises the stream; a viewer sees it end', async (t) => {
  const { browser, server } = await setUp(t, ['--reconnect-grace', '1']);
  const publisher = await goLive(browser, server, 'closed-tab');
  await waitInPage(publisher, () => window.livedash.state === 'live', null, { what: 'live' });
  const viewer = await browser.newPage();
  await viewer.goto(`${server.url}/watch/closed-tab`);
  await waitForPlaybackProgress(viewer, 1);
  await publisher.close();
  await waitInPage(viewer, () => window.livedash.state === 'ended', null, { what: 'ended after the grace period' });
  const manifest = await viewer.evaluate(async () => (await fetch('/dash/closed-tab/manifest.mpd', { cache: 'no-store' })).text());
  assert.match(manifest, /type="static"/);
});

test('a viewer keeps watching when the publisher comes back from a new tab', async (t) => {
  const { browser, server } = await setUp(t, ['--reconnect-grace', '10']);
  const first = await goLive(browser, server, 'comeback');
  await waitInPage(first, () => window.livedash.state === 'live', null, { what: 'live' });
  const viewer = await browser.newPage();
  const viewerLog = [];
  viewer.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') viewerLog.push(m.text().slice(0, 300)); });
  await viewer.goto(`${server.url}/watch/comeback`);
  await waitForPlaybackProgress(viewer, 2);
  await viewer.evaluate(() => {
    window.seenStates = new Set([window.livedash.state]);
    setInterval(() => window.seenStates.add(window.livedash.state), 50);
  });
  await first.close();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const second = await goLive(browser, server, 'comeback');
  await waitInPage(second, () => window.livedash.state === 'live', null, { what: 'the second tab is live' });
  await waitForPlaybackProgress(viewer, 5, { timeoutMs: 30_000 }).catch((error) => {
    throw new Error(`${error.message}\nviewer console:\n${viewerLog.join('\n')}\nserver:\n${server.log().split('\n').filter((l) => l.includes('livedash::')).join('\n')}`);
  });
  const seen = await viewer.evaluate(() => [...window.seenStates]);
  // While the publisher is away the viewer page may say it is waiting for them ('reconnecting').
  assert.ok(seen.every((s) => s === 'live' || s === 'reconnecting'), `the viewer never saw the stream end: ${seen}`);
  await second.click('#stop');
  await waitInPage(viewer, () => window.livedash.state === 'ended', null, { what: 'ended' });
});
