/**
 * Chromium's camera bitrate and frame rate against this project's server beside a bare werift
 * 0.24 answerer (scripts/lib/bare-werift-answerer.ts), in one run on one machine, from the
 * browser's own getStats. Chromium's built-in fake camera (640×480, moving pattern) is used, not
 * a file: a solid-colour clip needs no bitrate.
 *
 *   npx tsx scripts/video-bitrate-vs-werift.ts [--warmup 8] [--window 30] [--rounds 1]
 *
 * Prints one line per measurement and a JSON summary. The bare case runs a minimal page with the
 * same transceivers as public/js/peer.js (audio sendrecv, video sendonly, VP8 first).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { startServer } from '../test/e2e/harness.js';
import { launchWithBuiltInCamera } from '../test/e2e/video-probes.js';
import { bareWeriftAnswerer } from './lib/bare-werift-answerer.js';
import { measureVideoSend, type VideoSendRate } from './lib/video-send-stats.js';

const { values } = parseArgs({
  options: {
    warmup: { type: 'string', default: '8' },
    window: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '1' },
  },
});
const warmupMs = Number(values.warmup) * 1000;
const windowMs = Number(values.window) * 1000;
const rounds = Number(values.rounds);

const BARE_PAGE = `<!doctype html><title>bare</title><script>
window.startCall = async () => {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } } });
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  window.__pc = pc;
  pc.addTransceiver(stream.getAudioTracks()[0], { direction: 'sendrecv', streams: [stream] });
  const video = pc.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendonly', streams: [stream] });
  const codecs = RTCRtpReceiver.getCapabilities('video').codecs;
  video.setCodecPreferences([...codecs.filter((c) => c.mimeType === 'video/VP8'), ...codecs.filter((c) => c.mimeType !== 'video/VP8')]);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    setTimeout(resolve, 1000);
  });
  const sdp = await window.answerOffer(pc.localDescription.sdp);
  await pc.setRemoteDescription({ type: 'answer', sdp });
};
</script>`;

async function measureBare(browser: Browser): Promise<VideoSendRate> {
  const site = http.createServer((_request, response) => response.end(BARE_PAGE));
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  const answerer = bareWeriftAnswerer();
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.exposeFunction('answerOffer', (sdp: string) => answerer.answer(sdp));
    await page.goto(`http://127.0.0.1:${(site.address() as AddressInfo).port}/`);
    await page.evaluate('window.startCall()');
    return await measureVideoSend(page, 'window.__pc', warmupMs, windowMs);
  } finally {
    await context.close();
    await answerer.close();
    site.close();
  }
}

async function measureServer(browser: Browser, url: string): Promise<VideoSendRate> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, bypassCSP: true });
  try {
    const page: Page = await context.newPage();
    await page.goto(url);
    await page.waitForFunction('document.body.dataset.state === "ready"', undefined, { timeout: 20_000 });
    return await measureVideoSend(page, 'window.__pc', warmupMs, windowMs);
  } finally {
    await context.close();
  }
}

const format = (name: string, rate: VideoSendRate) =>
  `${name.padEnd(12)} ${rate.width}x${rate.height} ${rate.fps} fps ${rate.kbps} kbit/s (${rate.codec}, limited by: ${rate.qualityLimitationReason}, estimate ${rate.availableOutgoingKbps} kbit/s)`;

async function main(): Promise<void> {
  const server = await startServer({ LOG_LEVEL: 'warn' });
  const browser = await launchWithBuiltInCamera();
  const results: { bare: VideoSendRate[]; server: VideoSendRate[] } = { bare: [], server: [] };
  try {
    console.log(`warm-up ${warmupMs / 1000} s, window ${windowMs / 1000} s, ${rounds} round(s), Chromium's fake 640x480 camera`);
    for (let round = 0; round < rounds; round++) {
      const bare = await measureBare(browser);
      console.log(format('bare werift', bare));
      results.bare.push(bare);
      const ours = await measureServer(browser, server.url);
      console.log(format('this server', ours));
      results.server.push(ours);
    }
  } finally {
    await browser.close();
    await server.stop();
  }
  console.log(JSON.stringify(results));
}

await main();
