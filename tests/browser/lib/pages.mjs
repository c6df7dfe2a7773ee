// Driving the publisher and viewer pages.

/** Polls `fn` in the page until it returns a truthy value (bounded); returns that value. */
export async function waitInPage(page, fn, arg, { timeoutMs = 30_000, what = 'condition' } = {}) {
  const handle = await page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 100 }).catch(async (error) => {
    const status = await page.$eval('#status', (el) => el.textContent).catch(() => '?');
    throw new Error(`timed out waiting for ${what}; page status: "${status}" (${error.message.split('\n')[0]})`);
  });
  return handle.jsonValue();
}

/** Opens the publisher page, picks the stream name and format, clicks Start. */
export async function goLive(browser, server, stream, { format } = {}) {
  const page = await browser.newPage();
  await page.goto(`${server.url}/`);
  await page.waitForSelector('#start:not([disabled])', { timeout: 30_000 });
  await page.fill('#stream', stream);
  if (format) await page.selectOption('#codec', format);
  await page.click('#start');
  return page;
}

/** Current playback position of the page's #playback video. */
export function playbackTime(page) {
  return page.$eval('#playback', (video) => video.currentTime);
}

/** Waits until #playback has advanced by `seconds` from where it is now. */
export async function waitForPlaybackProgress(page, seconds, { timeoutMs = 30_000 } = {}) {
  const from = await playbackTime(page);
  await waitInPage(page, ({ from, seconds }) => document.getElementById('playback').currentTime >= from + seconds,
    { from, seconds }, { timeoutMs, what: `playback to advance ${seconds} s from ${from.toFixed(2)}` });
}

export function statusText(page) {
  return page.$eval('#status', (el) => el.textContent);
}

/** Makes `page` keep a copy of everything each of its MediaRecorders writes (before the page loads):
 *  the measure of "every frame" a recording is compared against ([`recorderOutputs`]). */
export function keepRecorderOutput(page) {
  return page.addInitScript(() => {
    window.recordedByRecorder = [];
    const Recorder = window.MediaRecorder;
    window.MediaRecorder = class extends Recorder {
      constructor(...args) {
        super(...args);
        const chunks = [];
        window.recordedByRecorder.push(chunks);
        this.addEventListener('dataavailable', (event) => chunks.push(event.data));
      }
    };
  });
}

/** What each recorder of a page set up by [`keepRecorderOutput`] wrote, in the order they started. */
export async function recorderOutputs(page) {
  const outputs = await page.evaluate(() => Promise.all(window.recordedByRecorder.map((chunks) => new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(',') + 1));
    reader.readAsDataURL(new Blob(chunks));
  }))));
  return outputs.map((base64) => Buffer.from(base64, 'base64'));
}
