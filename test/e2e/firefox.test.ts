/**
 * Firefox ESR ⇄ the real server over real WebRTC (offline engine): Firefox's fake devices, its
 * host addresses hidden behind `.local` names. It connects, a typed question is answered aloud
 * (the reply's audio packets arrive, from Firefox's getStats: speech packets are far larger than
 * the 3-byte silence packets sent between replies), and a reload connects again with the
 * conversation kept.
 */
import type { Page } from 'puppeteer-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sampleVideoSend } from '../../scripts/lib/video-send-stats.js';
import { printFailureContext, type RunningServer, startServer } from './harness.js';
import { type FirefoxRig, inboundAudioBytes, launchFirefox, waitForPage } from './firefox-rig.js';

let server: RunningServer;
let firefox: FirefoxRig;
let page: Page;
const pageErrors: string[] = [];

const CONNECTED = `window.__pc && window.__pc.connectionState === 'connected' && document.body.dataset.state === 'ready'`;

beforeAll(async () => {
  [server, firefox] = await Promise.all([startServer(), launchFirefox()]);
  page = await firefox.browser.newPage();
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
}, 120_000);

afterAll(async () => {
  await firefox?.close();
  await server?.stop();
}, 30_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') printFailureContext(server, pageErrors, 3000);
});

const replies = (target: Page) => target.evaluate(`document.querySelectorAll('[data-testid=log] [data-role=assistant]').length`) as Promise<number>;

describe('Firefox ESR', () => {
  it('connects although its host candidates are .local names, sending VP8', async () => {
    const started = Date.now();
    await page.goto(server.url);
    await waitForPage(page, CONNECTED, 'the media connection', 30_000);
    const connectedAt = Date.now();
    const offer = (await page.evaluate('window.__pc.localDescription.sdp')) as string;
    console.log(`Firefox connected ${Date.now() - started} ms after opening the page; .local candidates in its offer: ${/\.local \d+ typ host/.test(offer)}`);
    let video = await sampleVideoSend(page, 'window.__pc');
    for (let i = 0; i < 50 && !(video && video.framesEncoded > 0); i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      video = await sampleVideoSend(page, 'window.__pc');
    }
    expect(video?.codec.toLowerCase()).toBe('video/vp8');
    expect(video!.framesEncoded).toBeGreaterThan(0);
    // The camera's own size (Firefox's fake camera: 640×480), reached from the start.
    const track = (await page.evaluate(`JSON.stringify(window.__pc.getSenders().find((s) => s.track && s.track.kind === 'video').track.getSettings())`)) as string;
    const { width, height } = JSON.parse(track) as { width: number; height: number };
    let sent = video!;
    while (Date.now() - connectedAt < 10_000 && !(sent.frameWidth === width && sent.frameHeight === height)) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      sent = (await sampleVideoSend(page, 'window.__pc')) ?? sent;
    }
    console.log(`Firefox camera ${width}x${height}: sent at ${sent.frameWidth}x${sent.frameHeight} ${Date.now() - connectedAt} ms after connecting`);
    expect([sent.frameWidth, sent.frameHeight]).toEqual([width, height]);
  }, 60_000);

  it('answers a typed question aloud: the reply audio arrives', async () => {
    const before = await replies(page);
    const audioBefore = await inboundAudioBytes(page);
    await page.type('[data-testid=text-input]', 'hello, what do you see?');
    await page.click('[data-testid=text-send]');
    await waitForPage(page, `document.body.dataset.state === 'speaking'`, 'speaking', 30_000);
    const speakingAt = await inboundAudioBytes(page);
    await waitForPage(page, `document.body.dataset.state === 'ready'`, 'the end of the reply', 60_000);
    const after = await inboundAudioBytes(page);
    const text = (await page.evaluate(`[...document.querySelectorAll('[data-testid=log] [data-role=assistant]')].at(-1).textContent`)) as string;
    expect(await replies(page)).toBe(before + 1);
    expect(text).toMatch(/offline/i);
    const packets = after.packetsReceived - speakingAt.packetsReceived;
    const bytesPerPacket = (after.bytesReceived - speakingAt.bytesReceived) / Math.max(1, packets);
    const silenceBytesPerPacket = (speakingAt.bytesReceived - audioBefore.bytesReceived) / Math.max(1, speakingAt.packetsReceived - audioBefore.packetsReceived);
    console.log(`Firefox reply audio: ${packets} packets, ${bytesPerPacket.toFixed(1)} bytes a packet (before the reply: ${silenceBytesPerPacket.toFixed(1)}), ${after.codec}`);
    expect(after.codec.toLowerCase()).toBe('audio/opus');
    expect(packets).toBeGreaterThan(50); // > 1 s of 20 ms packets
    expect(bytesPerPacket).toBeGreaterThan(20);
  }, 90_000);

  it('a reload connects again and shows the conversation so far', async () => {
    const before = await replies(page);
    await page.reload();
    await waitForPage(page, CONNECTED, 'the media connection after the reload', 30_000);
    await waitForPage(page, `document.querySelectorAll('[data-testid=log] [data-role=assistant]').length >= ${before}`, 'the restored conversation');
  }, 60_000);
});
