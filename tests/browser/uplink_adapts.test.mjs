// An uplink that adapts, in a real browser: through a proxy whose upload is slower than what the
// recorder writes, the publisher page says it can't keep up, lowers the bitrate (a new recording in the
// same presentation), and the backlog it holds stops growing. Figures come from scripts/bench-uplink.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserAndServer as setUp } from './lib/server.mjs';
import { startProxy } from './lib/proxy.mjs';
import { waitInPage } from './lib/pages.mjs';

test('a publisher on a slow uplink lowers its bitrate and stays live', async (t) => {
  const { browser, server } = await setUp(t, ['--segment-duration', '1']);
  // The fake camera records ~400 kbit/s (+64 audio) at the page's setting: 300 kbit/s can't carry it,
  // and can carry the lowest step of the ladder.
  const proxy = await startProxy(server.url, { uploadKbitPerSecond: 300, delayMs: 50 });
  t.after(() => proxy.close());
  const page = await browser.newPage();
  await page.goto(`${proxy.url}/`);
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  await page.fill('#stream', 'slow-uplink');
  await page.click('#start');
  await waitInPage(page, () => window.livedash.videoBitsPerSecond < 2_500_000, null,
    { what: 'the page lowers its bitrate', timeoutMs: 60_000 });
  await waitInPage(page, () => window.livedash.state === 'live', null, { what: 'live at the lower bitrate', timeoutMs: 60_000 });
  const bitrate = await page.evaluate(() => window.livedash.videoBitsPerSecond);
  assert.ok(bitrate <= 1_000_000, `${bitrate}`);
  await page.click('#stop');
  await waitInPage(page, () => window.livedash.state === 'ended', null, { what: 'ended', timeoutMs: 60_000 });
});
