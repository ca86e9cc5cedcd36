/**
 * What a browser's video encoder is sending, from its own getStats (outbound-rtp, kind video):
 * sampled in the page, turned into kbit/s and frames a second between two samples. Shared by
 * scripts/video-bitrate-vs-werift.ts and the e2e video tests.
 */

/** Enough of playwright's and puppeteer's Page for the probe. */
export interface EvaluatingPage {
  evaluate(source: string): Promise<unknown>;
}

export interface VideoSendSample {
  atMs: number;
  bytesSent: number;
  framesEncoded: number;
  frameWidth: number;
  frameHeight: number;
  qualityLimitationReason: string;
  codec: string;
  /** The sender's available outgoing bitrate as the browser estimates it (candidate pair), bit/s. */
  availableOutgoingBitrate: number;
}

/** In-page source: a promise of the VideoSendSample of `pcExpression`'s video sender, or null. */
export function videoSendSampleSource(pcExpression: string): string {
  return `(async () => {
    const pc = ${pcExpression};
    if (!pc) return null;
    const report = await pc.getStats();
    let out = null, codec = '', bitrate = 0;
    report.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video' && (!out || s.bytesSent > out.bytesSent)) out = s;
      if (s.type === 'candidate-pair' && s.nominated && s.availableOutgoingBitrate) bitrate = s.availableOutgoingBitrate;
    });
    if (!out) return null;
    const c = out.codecId ? report.get(out.codecId) : undefined;
    if (c) codec = c.mimeType;
    return {
      atMs: out.timestamp, bytesSent: out.bytesSent ?? 0, framesEncoded: out.framesEncoded ?? 0,
      frameWidth: out.frameWidth ?? 0, frameHeight: out.frameHeight ?? 0,
      qualityLimitationReason: out.qualityLimitationReason ?? '', codec, availableOutgoingBitrate: bitrate,
    };
  })()`;
}

export async function sampleVideoSend(page: EvaluatingPage, pcExpression: string): Promise<VideoSendSample | null> {
  return (await page.evaluate(videoSendSampleSource(pcExpression))) as VideoSendSample | null;
}

export interface VideoSendRate {
  kbps: number;
  fps: number;
  width: number;
  height: number;
  qualityLimitationReason: string;
  codec: string;
  availableOutgoingKbps: number;
}

export function rateBetween(first: VideoSendSample, last: VideoSendSample): VideoSendRate {
  const seconds = Math.max(0.001, (last.atMs - first.atMs) / 1000);
  return {
    kbps: Math.round(((last.bytesSent - first.bytesSent) * 8) / seconds / 100) / 10,
    fps: Math.round(((last.framesEncoded - first.framesEncoded) / seconds) * 10) / 10,
    width: last.frameWidth,
    height: last.frameHeight,
    qualityLimitationReason: last.qualityLimitationReason,
    codec: last.codec,
    availableOutgoingKbps: Math.round(last.availableOutgoingBitrate / 1000),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until a sample exists (the video is flowing), then returns it. */
export async function firstVideoSendSample(page: EvaluatingPage, pcExpression: string, timeoutMs = 15_000): Promise<VideoSendSample> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sample = await sampleVideoSend(page, pcExpression);
    if (sample && sample.framesEncoded > 0) return sample;
    if (Date.now() > deadline) throw new Error(`no video was sent within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** Rate over [warmupMs, warmupMs + windowMs] after the first frame. */
export async function measureVideoSend(page: EvaluatingPage, pcExpression: string, warmupMs: number, windowMs: number): Promise<VideoSendRate> {
  await firstVideoSendSample(page, pcExpression);
  await sleep(warmupMs);
  const first = await sampleVideoSend(page, pcExpression);
  await sleep(windowMs);
  const last = await sampleVideoSend(page, pcExpression);
  if (!first || !last) throw new Error('the video sender disappeared while measuring');
  return rateBetween(first, last);
}
