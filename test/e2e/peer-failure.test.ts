/**
 * A media connection that cannot be made: for the page's first RTCPeerConnection the rig points
 * every ICE candidate of the offer the page sends and of the answer it applies at port 9 (as if
 * no network path existed), so every check goes unanswered. The server gives up, tells
 * the page (`rtc:failed`), the page says so in words and reconnects by itself; the second
 * connection (untouched) works.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MEDIA_DIR, makeSolidY4m, makeSpeechWav } from '../../scripts/make-test-media.js';
import { launchBrowser, openPage, printFailureContext, type RunningServer, startServer, waitForState } from './harness.js';

/** Strips candidates from the first peer connection's offer (as read by the page) and answer. */
const NO_PATH_FOR_FIRST_PEER = `(() => {
  // Every candidate's port becomes 9 (discard): the checks go nowhere and time out.
  const strip = (sdp) => sdp.split('\\r\\n').map((line) => {
    if (!line.startsWith('a=candidate:')) return line;
    const fields = line.split(' ');
    fields[5] = '9';
    return fields.join(' ');
  }).join('\\r\\n');
  const proto = RTCPeerConnection.prototype;
  const localDescription = Object.getOwnPropertyDescriptor(proto, 'localDescription').get;
  const setRemoteDescription = proto.setRemoteDescription;
  let first = null;
  window.__e2ePeersMade = 0;
  const isFirst = (pc) => {
    if (!first) { first = pc; }
    return pc === first;
  };
  Object.defineProperty(proto, 'localDescription', { configurable: true, get() {
    const description = localDescription.call(this);
    if (!description || !isFirst(this)) return description;
    return { type: description.type, sdp: strip(description.sdp), toJSON() { return { type: this.type, sdp: this.sdp }; } };
  } });
  proto.setRemoteDescription = function (description) {
    if (isFirst(this) && description && description.sdp) description = { type: description.type, sdp: strip(description.sdp) };
    return setRemoteDescription.call(this, description);
  };
})();`;

let server: RunningServer;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  const [wav, y4m] = await Promise.all([
    makeSpeechWav('hello there', path.join(DEFAULT_MEDIA_DIR, 'hello-there.wav'), { padSeconds: 1 }),
    makeSolidY4m('green', path.join(DEFAULT_MEDIA_DIR, 'green-640x480.y4m')),
  ]);
  [server, browser] = await Promise.all([startServer({ LOG_LEVEL: 'debug' }), launchBrowser({ audioWav: wav, videoY4m: y4m })]);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
}, 30_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') printFailureContext(server, [], 4000);
});

describe('a media connection that fails on the server', () => {
  it('is reported to the page, which says so and reconnects by itself', async () => {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true });
    await context.addInitScript(NO_PATH_FOR_FIRST_PEER);
    page = await context.newPage();
    const opened = Date.now();
    await page.goto(server.url);
    await page.waitForFunction(`/media connection/i.test(document.querySelector('[data-testid=error]')?.textContent ?? '')`, undefined, { timeout: 30_000, polling: 50 });
    const errorText = await page.locator('[data-testid=error]').textContent();
    const reportedAfterMs = Date.now() - opened;
    expect(server.logs()).toMatch(/"peer":"failed"/);
    await page.waitForFunction(`window.__pc && window.__pc.connectionState === 'connected'`, undefined, { timeout: 30_000, polling: 50 });
    await waitForState(page, 'ready', 10_000);
    console.log(`failure shown ${reportedAfterMs} ms after opening ("${errorText}"); connected again ${Date.now() - opened} ms after opening`);
    expect((await page.locator('[data-testid=error]').textContent())?.trim()).toBe('');
  }, 80_000);
});
