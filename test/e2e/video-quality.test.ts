/**
 * What the browser's video encoder is allowed to send: Chromium's own fake camera (640×480
 * moving pattern) ⇄ the real server. The server's transport-cc feedback must let Chrome's
 * bandwidth estimate rise (≥ 400 kbit/s within 10 s, from the browser's own getStats), the
 * camera must go out at its own resolution from the start, and a still taken 3 s after
 * connecting is at the camera's resolution.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rateBetween, sampleVideoSend, type VideoSendSample } from '../../scripts/lib/video-send-stats.js';
import { lastMessage, messageCount, openPage, PAGE_PC, printFailureContext, type RunningServer, startServer, waitForReplyDone, waitForState } from './harness.js';
import { launchWithBuiltInCamera } from './video-probes.js';

const TARGET_KBPS = 400;
const WITHIN_MS = 10_000;
const WINDOW_MS = 2000;

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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForConnected(target: Page, timeoutMs = 20_000): Promise<number> {
  await target.waitForFunction(`${PAGE_PC} && ${PAGE_PC}.connectionState === 'connected'`, undefined, { timeout: timeoutMs, polling: 20 });
  return Date.now();
}

describe('camera video against the real server', () => {
  it(`reaches ${TARGET_KBPS} kbit/s within ${WITHIN_MS / 1000} s, at 640×480 from the start, and a still 3 s in is 640×480`, async () => {
    page = await openPage(browser, server.url);
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    const connectedAt = await waitForConnected(page);
    await waitForState(page, 'ready', 20_000);

    const samples: { at: number; sample: VideoSendSample }[] = [];
    let fullResolutionAt: number | undefined;
    let best = { kbps: 0, endMs: 0 };
    const stillAskedAt = connectedAt + 3000;
    let asked = false;
    const repliesBefore = await messageCount(page, 'assistant');
    while (Date.now() - connectedAt < WITHIN_MS) {
      const sample = await sampleVideoSend(page, PAGE_PC);
      const now = Date.now();
      if (sample && sample.framesEncoded > 0) {
        samples.push({ at: now, sample });
        if (fullResolutionAt === undefined && sample.frameWidth === 640 && sample.frameHeight === 480) fullResolutionAt = now;
        const windowStart = samples.find((s) => now - s.at <= WINDOW_MS + 300 && now - s.at >= WINDOW_MS - 300);
        if (windowStart) {
          const rate = rateBetween(windowStart.sample, sample);
          if (rate.kbps > best.kbps) best = { kbps: rate.kbps, endMs: now - connectedAt };
        }
      }
      if (!asked && now >= stillAskedAt) {
        asked = true;
        await page.fill('[data-testid=text-input]', 'what do you see');
        await page.click('[data-testid=text-send]');
      }
      await sleep(250);
    }
    const last = samples.at(-1)!.sample;
    console.log(
      `camera: best ${WINDOW_MS / 1000}-s window ${best.kbps} kbit/s ending ${best.endMs} ms after connecting; ` +
        `640x480 ${fullResolutionAt === undefined ? 'never' : `${fullResolutionAt - connectedAt} ms`} after connecting; ` +
        `now ${last.frameWidth}x${last.frameHeight}, limited by "${last.qualityLimitationReason}", estimate ${Math.round(last.availableOutgoingBitrate / 1000)} kbit/s`,
    );
    expect(best.kbps).toBeGreaterThanOrEqual(TARGET_KBPS);
    expect(fullResolutionAt).toBeDefined();
    expect(fullResolutionAt! - connectedAt).toBeLessThanOrEqual(3000);

    const reply = await waitForReplyDone(page, repliesBefore, 30_000);
    expect(reply).toContain('640 by 480');
    expect((await lastMessage(page, 'assistant'))?.done).toBe(true);
  }, 90_000);
});
