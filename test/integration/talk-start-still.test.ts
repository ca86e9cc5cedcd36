/**
 * The still of a spoken turn is the keyframe that answers the talk-start PLI, and no other PLI is
 * sent while Space is held. werift ⇄ werift in one process: the real Session (offline engine) on
 * one side; on the other a camera that is red until the server's talk-start PLI, answers it with
 * a blue keyframe and turns green 0.4 s later (delta frames only). A still from the newest frames
 * would be green; the talk-start keyframe is blue. A typed question afterwards sees the newest
 * frames (green).
 */
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../server/config.js';
import { HistoryStore } from '../../server/assistant/history.js';
import { MemoryConversationStore } from '../../server/conversations/memory-store.js';
import { createEngine } from '../../server/engines.js';
import { createLogger } from '../../server/logger.js';
import { ServerMetrics } from '../../server/metrics.js';
import type { ServerToClient } from '../../server/protocol.js';
import { Session } from '../../server/session.js';
import { ClientPeer } from '../../scripts/lib/client-peer.js';
import { opusPacketsFromWav } from '../../scripts/lib/encoded-media.js';
import { readIvfFrames } from '../../scripts/lib/vp8-packetizer.js';
import { makeSpeechWav } from '../../scripts/make-test-media.js';

type Event = { name: keyof ServerToClient; payload: Record<string, unknown> };

const HOLD_MS = 7000; // past VIDEO_MAX_FRAMES (125) at 25 fps, and seven times the old 1-s keyframe timer
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** VP8 frames of a lavfi graph, one keyframe first. */
function vp8Clip(lavfi: string): Buffer[] {
  return readIvfFrames(execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', lavfi,
    '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '500k', '-g', '100000', '-f', 'ivf', '-'], { maxBuffer: 64 * 1024 * 1024 }));
}
const flat = (colour: string, seconds: number) => `color=c=${colour}:s=320x240:r=25:d=${seconds}`;

describe('the still of a spoken turn', () => {
  const events: Event[] = [];
  let session: Session;
  let client: ClientPeer;
  let videoTimer: NodeJS.Timeout | undefined;

  beforeAll(async () => {
    const red = vp8Clip(flat('red', 2));
    const blueThenGreen = vp8Clip(`${flat('blue', 0.4)}[a];${flat('green', 2)}[b];[a][b]concat=n=2[out0]`);
    const green = vp8Clip(flat('green', 2));
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
    await client.accept(await session.answerOffer(await client.offer()));
    // Plays a clip, then loops its delta frames (a flat colour: they change nothing). A keyframe
    // request switches clips: the first after talk start to blue-then-green, any later to green.
    let clip = red;
    let index = 0;
    let requestsSeen = 0;
    videoTimer = setInterval(() => {
      if (client.keyframeRequests > requestsSeen) {
        requestsSeen = client.keyframeRequests;
        if (clip !== red || talkStartedAt !== undefined) {
          clip = clip === red ? blueThenGreen : green;
          index = 0;
          blueSentAt ??= performance.now();
        }
      }
      client.sendVideoFrame(clip[index]!);
      index = index + 1 < clip.length ? index + 1 : 1;
    }, 40);
  }, 60_000);

  let talkStartedAt: number | undefined;
  let blueSentAt: number | undefined;

  afterAll(async () => {
    clearInterval(videoTimer);
    await session?.close();
    await client?.close();
  });

  it('is the keyframe answering the talk-start PLI, with no other PLI during a long hold; a typed question sees the newest frame', async () => {
    const wav = await makeSpeechWav('what colour is this', join(tmpdir(), 'wa-talk-start-still.wav'), { padSeconds: 0.3 });
    const micPackets = await opusPacketsFromWav(wav);
    await sleep(1000); // the red keyframe and some frames arrive
    const requestsBefore = client.keyframeRequests;
    talkStartedAt = performance.now();
    session.talkStart();
    for (const packet of micPackets) {
      client.sendMic(packet);
      await sleep(20);
    }
    await sleep(Math.max(0, HOLD_MS - (performance.now() - talkStartedAt)));
    const requestsDuringHold = client.keyframeRequests - requestsBefore;
    session.talkStop();

    const done = await waitFor(() => events.find((e) => e.name === 'turn:done'), 60_000);
    console.log(`spoken turn: ${requestsDuringHold} keyframe request(s) in a ${HOLD_MS} ms hold; blue keyframe sent ${Math.round(blueSentAt! - talkStartedAt)} ms after talk start; reply: ${String(done.payload.text)}`);
    expect(requestsDuringHold).toBe(1);
    expect(blueSentAt).toBeGreaterThan(talkStartedAt);
    expect(String(done.payload.text)).toMatch(/picture, mostly blue\b/);

    await waitFor(() => (events.at(-1)?.name === 'state' && events.at(-1)?.payload.state === 'ready' ? true : undefined), 30_000);
    events.length = 0;
    session.askText('what do you see');
    const typed = await waitFor(() => events.find((e) => e.name === 'turn:done'), 60_000);
    console.log(`typed turn: ${String(typed.payload.text)}`);
    expect(String(typed.payload.text)).toMatch(/picture, mostly green\b/);
  }, 120_000);
});

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(50);
  }
}
