// The stream list (/streams): a live stream appears with its publisher's thumbnail, uptime and viewer
// count, the count follows viewers coming and going, the stream moves to the recordings when it ends,
// and the list works by keyboard and on a phone-sized screen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserAndServer as setUp } from './lib/server.mjs';
import { waitInPage } from './lib/pages.mjs';
import { publishFixture } from './lib/publisher.mjs';

const card = (stream) => `li.card[data-stream="${stream}"]`;

test('/streams lists a live stream with its thumbnail, uptime and a viewer count that updates', async (t) => {
  const { browser, server } = await setUp(t);
  const list = await browser.newPage();
  await list.goto(`${server.url}/streams`);
  await waitInPage(list, () => window.livedash.polls > 0, null, { what: 'the first poll' });
  assert.equal(await list.isVisible('#no-live'), true, 'says nobody is live');

  const { done } = await publishFixture(browser, server, 'listed', { seconds: 12 });
  await waitInPage(list, (sel) => {
    const img = document.querySelector(`#live ${sel} img`);
    return img && !img.hidden && img.complete && img.naturalWidth === 160;
  }, card('listed'), { what: 'the live card with its thumbnail loaded' });
  assert.equal(await list.$eval(`${card('listed')} .badge`, (el) => el.textContent), 'Live');
  assert.match(await list.$eval(`${card('listed')} .facts-line`, (el) => el.textContent), /^live for \d+:\d\d · 0 watching$/);
  assert.equal(await list.$eval(`${card('listed')} a`, (a) => a.getAttribute('href')), '/watch/listed');

  const viewer = await browser.newPage();
  await viewer.goto(`${server.url}/watch/listed`);
  await waitInPage(list, (sel) => /· 1 watching$/.test(document.querySelector(sel)?.textContent ?? ''),
    `${card('listed')} .facts-line`, { what: 'one viewer counted' });
  await list.screenshot({ path: 'target/screenshots/stream-list-live.png', fullPage: true });
  await viewer.close();
  await waitInPage(list, (sel) => /· 0 watching$/.test(document.querySelector(sel)?.textContent ?? ''),
    `${card('listed')} .facts-line`, { what: 'the viewer left', timeoutMs: 30_000 });

  assert.equal((await done).type, 'ended');
  await waitInPage(list, (sel) => document.querySelector(`#recordings ${sel}`) !== null, card('listed'),
    { what: 'the stream listed as a recording' });
  assert.equal(await list.$eval(`${card('listed')} .badge`, (el) => el.textContent), 'Recording');
  assert.match(await list.$eval(`${card('listed')} .facts-line`, (el) => el.textContent), /^0:\d\d long · 0 watching$/);
  assert.equal(await list.isVisible('#no-live'), true);

  // By keyboard: Tab reaches the card's link, Enter opens the viewer page.
  let focused = null;
  for (let i = 0; i < 10 && focused !== '/watch/listed'; i += 1) {
    await list.keyboard.press('Tab');
    focused = await list.evaluate(() => document.activeElement?.getAttribute('href'));
  }
  assert.equal(focused, '/watch/listed', 'Tab reaches the card');
  const outline = await list.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'focus is visible');
  await Promise.all([list.waitForURL('**/watch/listed'), list.keyboard.press('Enter')]);
});

test('/streams is one column without horizontal scrolling on a phone', async (t) => {
  const { browser, server } = await setUp(t);
  const publishers = [];
  for (const stream of ['phone-a', 'phone-b']) publishers.push(await publishFixture(browser, server, stream, { seconds: 12 }));
  const page = await browser.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${server.url}/streams`);
  await waitInPage(page, () => document.querySelectorAll('#live li.card img:not([hidden])').length === 2, null,
    { what: 'two live cards with thumbnails' });
  const layout = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    width: window.innerWidth,
    lefts: [...document.querySelectorAll('li.card')].map((c) => Math.round(c.getBoundingClientRect().left)),
  }));
  assert.ok(layout.scrollWidth <= layout.width, `no horizontal scroll: ${layout.scrollWidth} > ${layout.width}`);
  assert.equal(new Set(layout.lefts).size, 1, `one column: card lefts ${layout.lefts}`);
  await page.screenshot({ path: 'target/screenshots/stream-list-phone.png', fullPage: true });
  await Promise.all(publishers.map((p) => p.done));
});
