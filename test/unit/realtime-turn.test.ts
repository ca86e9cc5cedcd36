/**
 * RealtimeTurn on a real speech-to-speech conversation with the fake: the model's PCM becomes
 * 20 ms Opus packets for the sender, a cancel truncates the reply at the packets the sender had
 * sent and history keeps only the words heard, an accidental press asks nothing.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FrameImage } from '../../server/assistant/engine.js';
import { ConversationHistory } from '../../server/assistant/history.js';
import { RealtimeConversation } from '../../server/assistant/openai/realtime-conversation.js';
import { opusPacketSamples48k } from '../../server/media/opus-toc.js';
import { resolveRealtime } from '../../server/realtime-settings.js';
import { RealtimeTurn, type RealtimeTurnContext } from '../../server/realtime-turn.js';
import { TurnTimeline } from '../../server/timeline.js';
import { DIDNT_CATCH } from '../../server/turn.js';
import { type FakeOpenAI, startFakeOpenAI } from '../fake-openai/server.js';

const API_KEY = 'sk-s2s-turn-77aa';
const LONG = 'One two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty.';

let fake: FakeOpenAI;
let call: RealtimeConversation;
let frame: FrameImage;

interface Rig {
  ctx: RealtimeTurnContext;
  packets: Buffer[];
  events: Array<{ event: string; payload: unknown }>;
  /** Packets the pretend sender has "sent"; the rest are queued. */
  sent: number;
}

function rig(): Rig {
  const state: Rig = { packets: [], events: [], sent: 0, ctx: undefined as unknown as RealtimeTurnContext };
  state.ctx = {
    call,
    history: new ConversationHistory({ budgetChars: 100_000, keepImages: 2 }),
    emit: ((event: string, payload: unknown) => state.events.push({ event, payload })) as RealtimeTurnContext['emit'],
    minSpeechMs: 300,
    takeSnapshot: async () => frame,
    play: (packet) => state.packets.push(packet),
    whenPlayed: async () => undefined,
    flushPlayback: () => state.packets.length - state.sent,
    onThinking: () => undefined,
  };
  return state;
}

beforeAll(async () => {
  fake = await startFakeOpenAI({ apiKey: API_KEY });
  const jpeg = await sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 0, g: 0, b: 255 } } }).jpeg().toBuffer();
  frame = { jpeg, width: 32, height: 24, source: 'camera' };
});
afterAll(async () => {
  call?.close();
  await fake?.close();
});
beforeEach(() => {
  call?.close();
  fake.reset();
  fake.configure({ reply: undefined });
  const endpoint = resolveRealtime({ OPENAI_API_KEY: API_KEY, OPENAI_BASE_URL: fake.baseURL, REALTIME_MODEL: 'gpt-realtime' }, [])!;
  call = new RealtimeConversation({
    ...endpoint, model: 'gpt-realtime', instructions: 'Be brief.', voice: 'marin', transcriptionModel: 'stt',
    imageDetail: 'low', maxImages: 2, openTimeoutMs: 5000,
  });
});

describe('RealtimeTurn', () => {
  it('turns the reply into 20 ms Opus packets as it arrives, streams its words and keeps the turn in history', async () => {
    fake.configure({ reply: () => 'It is blue.' });
    const r = rig();
    const timeline = new TurnTimeline();
    const turn = new RealtimeTurn(r.ctx, timeline, 1);
    expect(await turn.run({ kind: 'text', text: 'what colour is it' })).toBe('answered');
    expect(r.packets.length).toBeGreaterThan(20);
    expect(r.packets.every((packet) => opusPacketSamples48k(packet) === 960)).toBe(true);
    const response = fake.realtimeSessions[0]!.responses[0]!;
    // Every 20 ms of the model's audio, and at most one padded frame and the resampler's tail more.
    expect(r.packets.length * 20).toBeGreaterThanOrEqual(response.audioSentMs);
    expect(r.packets.length * 20).toBeLessThanOrEqual(response.audioSentMs + 40);
    expect(r.events.filter((e) => e.event === 'turn:delta').map((e) => (e.payload as { text: string }).text).join('')).toBe('It is blue.');
    expect(turn.answerText).toBe('It is blue.');
    expect(r.ctx.history.forModel().map((m) => `${m.role}: ${m.text}${m.image ? ' +image' : ''}`)).toEqual(['user: what colour is it +image', 'assistant: It is blue.']);
    for (const mark of ['responseSent', 'jpegReady', 'firstAudioDelta', 'lastRtp'] as const) expect(timeline.has(mark)).toBe(true);
  }, 20_000);

  it('a cancel truncates the reply at the packets sent and history keeps only the words heard', async () => {
    fake.configure({ reply: () => LONG });
    fake.setBehaviour('realtime', { chunkGapMs: 30 });
    const r = rig();
    const turn = new RealtimeTurn(r.ctx, new TurnTimeline(), 1);
    const outcome = turn.run({ kind: 'text', text: 'count for me' });
    const deadline = performance.now() + 10_000;
    while (r.packets.length < 60 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    r.sent = 25; // 500 ms of it went out; the rest was queued
    turn.cancel();
    expect(await outcome).toBe('cancelled');
    const session = fake.realtimeSessions[0]!;
    const start = performance.now();
    while (session.truncations.length === 0 && performance.now() - start < 3000) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(session.truncations[0]).toMatchObject({ audioEndMs: 500, itemId: session.responses[0]!.itemId });
    const [, answer] = r.ctx.history.forModel();
    const heardWords = answer!.text.split(' ');
    expect(LONG.startsWith(answer!.text)).toBe(true);
    expect(heardWords.length).toBeLessThan(turn.answerText.split(' ').length);
  }, 20_000);

  it('an accidental press clears the appended audio and asks nothing', async () => {
    const r = rig();
    const turn = new RealtimeTurn(r.ctx, new TurnTimeline(), 1);
    call.appendAudio(new Int16Array(2400));
    const outcome = await turn.run({ kind: 'voice', segment: { pcm: new Int16Array(0), sampleRate: 16_000, durationMs: 200, speechMs: 100 } });
    expect(outcome).toBe('no_speech');
    expect(r.events).toEqual([{ event: 'notice', payload: { message: DIDNT_CATCH } }]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const sent = fake.realtimeSessions[0]!.events.filter((e) => e.direction === 'in').map((e) => e.type);
    expect(sent).toContain('input_audio_buffer.clear');
    expect(sent).not.toContain('input_audio_buffer.commit');
    expect(sent).not.toContain('response.create');
  });
});
