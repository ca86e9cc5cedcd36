import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import opus from '@discordjs/opus';
import type { RtpPacket } from 'werift';
import { parseSettings } from '../../server/config.js';
import { HistoryStore } from '../../server/assistant/history.js';
import { MemoryConversationStore } from '../../server/conversations/memory-store.js';
import { transcribeWithPocketsphinx } from '../../server/assistant/offline/transcriber.js';
import { createEngine } from '../../server/engines.js';
import { createLogger } from '../../server/logger.js';
import { ServerMetrics } from '../../server/metrics.js';
import type { ServerToClient } from '../../server/protocol.js';
import { Session } from '../../server/session.js';
import { ClientPeer } from '../../scripts/lib/client-peer.js';
import { opusPacketsFromWav, vp8Frames } from '../../scripts/lib/encoded-media.js';
import { makeSpeechWav } from '../../scripts/make-test-media.js';

type Event = { name: keyof ServerToClient; payload: Record<string, unknown> };

const QUESTION = 'what colour is the thing i am holding';

/** werift ⇄ werift in one process: the real Session with the offline engine on one side. */
describe('session over a werift peer', () => {
  const events: Event[] = [];
  let session: Session;
  let client: ClientPeer;
  let micPackets: Buffer[];
  let frames: Buffer[];
  let videoTimer: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    const wav = await makeSpeechWav(QUESTION, join(tmpdir(), 'wa-session-loop.wav'), { padSeconds: 0.4 });
    micPackets = await opusPacketsFromWav(wav);
    frames = await vp8Frames({ colour: 'red', seconds: 2 });
    const settings = parseSettings({ ASSISTANT_ENGINE: 'offline' });
    session = new Session({
      engine: createEngine(settings).engine,
      settings,
      logger: createLogger('silent'),
      metrics: new ServerMetrics(),
      emit: (name, ...args) => events.push({ name, payload: args[0] as Record<string, unknown> }),
    });
    session.attachHistory(new HistoryStore(new MemoryConversationStore({ ttlSeconds: 60, maxBytes: 1e6, maxCount: 10 }), { budgetChars: 10_000, keepImages: 2, maxRecordBytes: 1e6 }).fresh());
    client = new ClientPeer();
    const answer = await session.answerOffer(await client.offer());
    await client.accept(answer);
    let frameIndex = 0;
    videoTimer = setInterval(() => client.sendVideoFrame(frames[frameIndex++ % frames.length]!), 40);
  }, 60_000);

  afterAll(async () => {
    clearInterval(videoTimer);
    await session?.close();
    await client?.close();
  });

  it('hears the question, sees the colour and speaks the answer back as paced Opus RTP', async () => {
    await new Promise((r) => setTimeout(r, 500)); // a keyframe and a few frames arrive
    session.talkStart();
    for (const packet of micPackets) {
      client.sendMic(packet);
      await new Promise((r) => setTimeout(r, 20));
    }
    const releasedAt = performance.now();
    session.talkStop();

    const done = await waitFor(() => events.find((e) => e.name === 'turn:done'), 60_000);
    const user = events.find((e) => e.name === 'turn:user');
    expect(String(user?.payload.text)).toMatch(/colou?r/);
    expect(String(done.payload.text)).toMatch(/red/i);
    expect(done.payload.latencyMs).toBeGreaterThan(0);

    const speech = client.received.filter((r) => r.at > releasedAt && !isSilence(r.rtp));
    expect(speech.length).toBeGreaterThan(50); // over a second of reply

    // RTP rules: +960 per 20 ms packet, consecutive sequence numbers, marker on the first speech packet.
    // A tick skipped because the event loop stalled (a loaded machine) advances the timestamp by
    // the wall time that passed, never bursts: so steps are whole frames, nearly always one.
    const afterRelease = client.received.filter((r) => r.at > releasedAt);
    let oneFrameSteps = 0;
    for (let i = 1; i < afterRelease.length; i++) {
      const [prev, next] = [afterRelease[i - 1]!.rtp.header, afterRelease[i]!.rtp.header];
      expect((next.sequenceNumber - prev.sequenceNumber) & 0xffff).toBe(1);
      const step = (next.timestamp - prev.timestamp) >>> 0;
      expect(step % 960).toBe(0);
      if (step === 960) oneFrameSteps++;
    }
    expect(oneFrameSteps / (afterRelease.length - 1)).toBeGreaterThan(0.9);
    const rtpSpanMs = ((afterRelease.at(-1)!.rtp.header.timestamp - afterRelease[0]!.rtp.header.timestamp) >>> 0) / 48;
    const wallSpanMs = afterRelease.at(-1)!.at - afterRelease[0]!.at;
    expect(Math.abs(rtpSpanMs - wallSpanMs)).toBeLessThan(120);
    expect(speech[0]!.rtp.header.marker).toBe(true);

    // The words arrive: decode what was received and recognise it.
    const decoder = new opus.OpusEncoder(16000, 1);
    const pcm = Buffer.concat(speech.map((r) => decoder.decode(r.rtp.payload)));
    const heard = await transcribeWithPocketsphinx(
      new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2),
      16000,
      new AbortController().signal,
    );
    expect(heard).toMatch(/heard|red|picture|offline/);
  }, 90_000);

  it('push-to-talk keeps PRE_ROLL_MS from before the key press: a question begun 250 ms early is heard whole', async () => {
    await waitFor(() => (events.at(-1)?.name === 'state' && events.at(-1)?.payload.state === 'ready' ? true : undefined), 60_000);
    events.length = 0;
    const speechStartsAt = 0.4 + 0.1; // the padding, then flite's own lead-in (s)
    const pressAt = Math.round((speechStartsAt + 0.25) / 0.02);
    for (const [index, packet] of micPackets.entries()) {
      if (index === pressAt) session.talkStart();
      client.sendMic(packet);
      await new Promise((r) => setTimeout(r, 20));
    }
    session.talkStop();
    const user = await waitFor(() => events.find((e) => e.name === 'turn:user'), 60_000);
    console.log(`pre-roll turn heard: ${String(user.payload.text)}`);
    expect(String(user.payload.text)).toMatch(/^what\b/);
    session.cancel();
  }, 90_000);
});

function isSilence(rtp: RtpPacket): boolean {
  return rtp.payload.length <= 3;
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}
