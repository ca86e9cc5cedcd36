/**
 * VP9 end to end: Chromium (its own fake 640×480 camera) offers only VP9 for video, the server
 * answers VP9, and the still the offline vision model gets is a real 640×480 picture decoded
 * from the VP9 stream by the same ffmpeg path as VP8. On the same call: holding Space makes the
 * server send the one talk-start PLI (Chromium's own outbound-rtp pliCount), not one a second.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sampleVideoSend } from '../../scripts/lib/video-send-stats.js';
import { messageCount, openPage, PAGE_PC, printFailureContext, type RunningServer, startServer, waitForReplyDone, waitForState } from './harness.js';
import { launchWithBuiltInCamera } from './video-probes.js';

/**
 * Runs before the page: whatever video codec order the page asks for, the browser offers VP9
 * only (with its RTX), so the server can answer nothing else.
 */
const OFFER_VP9_ONLY = `(() => {
  const set = RTCRtpTransceiver.prototype.setCodecPreferences;
  RTCRtpTransceiver.prototype.setCodecPreferences = function (codecs) {
    if (!codecs.some((codec) => codec.mimeType.toLowerCase().startsWith('video/'))) return set.call(this, codecs);
    const vp9 = RTCRtpReceiver.getCapabilities('video').codecs.filter((codec) => /^video\\/(vp9|rtx)$/i.test(codec.mimeType));
    return set.call(this, vp9);
  };
})();`;

let server: RunningServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer(), launchWithBuiltInCamera()]);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
}, 30_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') printFailureContext(server, pageErrors, 3000);
});

describe('VP9 from Chromium', () => {
  it('is negotiated, and the still the model gets is a 640×480 picture decoded from it', async () => {
    page = await openPage(browser, server.url, [OFFER_VP9_ONLY]);
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    await waitForState(page, 'ready', 30_000);
    const answer = (await page.evaluate(`${PAGE_PC}.currentRemoteDescription.sdp`)) as string;
    const videoSection = answer.split('m=video')[1] ?? '';
    expect(videoSection).toMatch(/a=rtpmap:\d+ VP9\/90000/);
    expect(videoSection).not.toMatch(/a=rtpmap:\d+ (VP8|H264)\/90000/);

    await page.waitForFunction(
      `(async () => { const r = await ${PAGE_PC}.getStats(); let ok = false; r.forEach((s) => { if (s.type === 'outbound-rtp' && s.kind === 'video' && s.framesEncoded > 30 && s.frameWidth === 640) ok = true; }); return ok; })()`,
      undefined,
      { timeout: 20_000, polling: 250 },
    );
    const sent = await sampleVideoSend(page, PAGE_PC);
    expect(sent?.codec).toBe('video/VP9');

    const repliesBefore = await messageCount(page, 'assistant');
    await page.fill('[data-testid=text-input]', 'what do you see');
    await page.click('[data-testid=text-send]');
    const reply = await waitForReplyDone(page, repliesBefore, 30_000);
    console.log(`VP9 still, as the offline model described it: ${reply}`);
    expect(reply).toContain('640 by 480');
  }, 90_000);

  it('while Space is held 6 s the server asks for one keyframe (the talk-start PLI), not one a second', async () => {
    await waitForState(page, 'ready', 30_000);
    const pliCount = async () =>
      (await page.evaluate(`(async () => { let n = 0; (await ${PAGE_PC}.getStats()).forEach((s) => { if (s.type === 'outbound-rtp' && s.kind === 'video') n += s.pliCount ?? 0; }); return n; })()`)) as number;
    const before = await pliCount();
    const started = Date.now();
    const seen: string[] = [];
    let during = 0;
    await page.keyboard.down('Space');
    while (Date.now() - started < 6000) {
      during = (await pliCount()) - before;
      seen.push(`${Date.now() - started}:${during}`);
      await page.waitForTimeout(250);
    }
    await page.keyboard.up('Space');
    // (After release a chain past VIDEO_MAX_FRAMES asks for a fresh keyframe: not counted here.)
    console.log(`PLIs Chromium received while Space was held 6 s: ${during} (ms:count ${seen.join(' ')})`);
    expect(during).toBeGreaterThanOrEqual(1);
    expect(during).toBeLessThanOrEqual(2); // one more only if a packet was lost on a loaded machine
  }, 60_000);
});
