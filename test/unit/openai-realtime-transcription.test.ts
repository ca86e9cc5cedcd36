/**
 * Streamed speech-to-text (STT_STREAMING) against the fake's Realtime transcription WebSocket:
 * real flite speech appended as 24 kHz PCM16, commits at the pause and at release, partial text
 * while "holding", and the fallback to an upload when the stream cannot be had.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LIVE_SAMPLE_RATE, type MicSegment } from '../../server/assistant/engine.js';
import { ConversationHistory } from '../../server/assistant/history.js';
import { LiveTranscriptionError, RealtimeTranscriber } from '../../server/assistant/openai/realtime-transcription.js';
import { realtimeURL } from '../../server/assistant/openai/realtime-socket.js';
import { parseSettings } from '../../server/config.js';
import { createEngine } from '../../server/engines.js';
import { TurnTimeline } from '../../server/timeline.js';
import { Turn, type TurnContext } from '../../server/turn.js';
import { type FakeOpenAI, startFakeOpenAI } from '../fake-openai/server.js';

const run = promisify(execFile);
const API_KEY = 'sk-realtime-test-91c2';
const FIRST = 'please tell me';
const SECOND = 'what color you can see'; // pocketsphinx's spelling

let fake: FakeOpenAI;
let dir: string;
let first: Int16Array;
let second: Int16Array;

async function speech24k(text: string): Promise<Int16Array> {
  const wav = path.join(dir, `${text.replace(/\W+/g, '-')}.wav`);
  await run('flite', ['-voice', 'slt', '-t', text, '-o', wav]);
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', wav, '-f', 's16le', '-ac', '1', '-ar', String(LIVE_SAMPLE_RATE), 'pipe:1'], {
    encoding: 'buffer',
    maxBuffer: 1 << 24,
  });
  return new Int16Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + stdout.byteLength));
}

const silence = (ms: number) => new Int16Array((LIVE_SAMPLE_RATE * ms) / 1000);

/** Appends like the mic does: 20 ms at a time. */
function appendInFrames(turn: { append(pcm: Int16Array): void }, pcm: Int16Array): void {
  for (let at = 0; at < pcm.length; at += 480) turn.append(pcm.subarray(at, at + 480));
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const transcriber = (options: Partial<ConstructorParameters<typeof RealtimeTranscriber>[0]> = {}) =>
  new RealtimeTranscriber({ baseURL: fake.baseURL, apiKey: API_KEY, model: 'stt-model', timeoutMs: 5000, ...options });

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'realtime-stt-'));
  [first, second] = await Promise.all([speech24k(FIRST), speech24k(SECOND)]);
  fake = await startFakeOpenAI({ apiKey: API_KEY });
}, 30_000);
afterAll(async () => {
  await fake?.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  fake.reset();
  fake.configure({ transcript: undefined });
});

describe('realtimeURL', () => {
  it('is <base>/realtime with https→wss and http→ws, keeping the base path', () => {
    expect(realtimeURL('https://api.openai.com/v1', { intent: 'transcription' }).href).toBe('wss://api.openai.com/v1/realtime?intent=transcription');
    expect(realtimeURL('http://127.0.0.1:8080/proxy/v1/', { model: 'gpt-realtime' }).href).toBe('ws://127.0.0.1:8080/proxy/v1/realtime?model=gpt-realtime');
  });
});

describe('RealtimeTranscriber', () => {
  it('streams the held speech, shows the words before release, and has the transcript at release', async () => {
    const live = transcriber();
    const partials: string[] = [];
    const turn = live.begin((text) => partials.push(text));
    appendInFrames(turn, silence(300));
    appendInFrames(turn, first);
    appendInFrames(turn, silence(700)); // a pause: committed while still "held"
    await until(() => partials.length > 0, 10_000, 'partial text before release');
    const beforeRelease = partials.at(-1)!;
    appendInFrames(turn, second);
    appendInFrames(turn, silence(200));
    const releasedAt = performance.now();
    const transcript = await turn.finish(new AbortController().signal);
    const releaseToTranscriptMs = performance.now() - releasedAt;
    console.log(`partials: ${JSON.stringify(partials)}; release → transcript ${releaseToTranscriptMs.toFixed(0)} ms`);

    expect(beforeRelease).toBe(FIRST);
    expect(transcript).toBe(`${FIRST} ${SECOND}`);
    expect(partials.length, 'the text grew delta by delta').toBeGreaterThanOrEqual(4);
    expect(new Set(partials.map((p) => p.length)).size).toBeGreaterThanOrEqual(4);

    const [session] = fake.realtimeSessions;
    expect(fake.realtimeSessions).toHaveLength(1);
    expect(session!.path).toBe('/v1/realtime?intent=transcription');
    expect(session!.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(session!.path).not.toContain(API_KEY);
    const input = (session!.session as { audio: { input: Record<string, unknown> } }).audio.input;
    expect(input).toMatchObject({ format: { type: 'audio/pcm', rate: 24000 }, transcription: { model: 'stt-model' }, turn_detection: null });
    const sentSamples = silence(300).length + first.length + silence(700).length + second.length + silence(200).length;
    expect(session!.appendedBytes).toBe(sentSamples * 2);
    expect(session!.commits.map((c) => c.transcript)).toEqual([FIRST, SECOND]);
    expect(fake.requestsTo('transcriptions'), 'no upload').toHaveLength(0);
    live.close();
    await session!.closed;
  }, 30_000);

  it('released after a pause: the transcript is ready at once (the trailing silence is not sent to be transcribed)', async () => {
    const live = transcriber();
    const partials: string[] = [];
    const turn = live.begin((text) => partials.push(text));
    appendInFrames(turn, first);
    appendInFrames(turn, silence(800));
    await until(() => fake.realtimeSessions[0]?.commits[0]?.completedAt !== undefined, 10_000, 'the pause commit transcribed');
    const releasedAt = performance.now();
    const transcript = await turn.finish(new AbortController().signal);
    const readyInMs = performance.now() - releasedAt;
    console.log(`release → transcript after a pause: ${readyInMs.toFixed(1)} ms`);
    expect(transcript).toBe(FIRST);
    expect(readyInMs).toBeLessThan(20);
    expect(fake.realtimeSessions[0]!.commits).toHaveLength(1);
    live.close();
  });

  it('keeps the connection for the next turn, and closes it when idle', async () => {
    fake.configure({ transcript: 'fixed words' });
    const live = transcriber({ idleCloseMs: 300 });
    for (let i = 0; i < 2; i++) {
      const turn = live.begin(() => undefined);
      appendInFrames(turn, first);
      expect(await turn.finish(new AbortController().signal)).toBe('fixed words');
    }
    expect(fake.realtimeSessions).toHaveLength(1);
    const [session] = fake.realtimeSessions;
    await Promise.race([session!.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('not closed when idle')), 3000))]);
    expect(session!.closedAt! - session!.events.at(-1)!.at).toBeGreaterThanOrEqual(250);
    live.close();
  });

  it('fails the turn (for the upload fallback) when the endpoint refuses, drops or stalls', async () => {
    for (const failure of [{ kind: 'status', status: 403 }, { kind: 'cut', afterChunks: 3 }, { kind: 'stall', afterChunks: 1 }] as const) {
      fake.reset();
      fake.setBehaviour('realtime', { failure });
      const live = transcriber({ timeoutMs: 800 });
      const turn = live.begin(() => undefined);
      appendInFrames(turn, first);
      const startedAt = performance.now();
      const error = await turn.finish(new AbortController().signal).then(() => undefined, (e: unknown) => e);
      console.log(`${failure.kind}: ${String(error)} after ${(performance.now() - startedAt).toFixed(0)} ms`);
      expect(error).toBeInstanceOf(Error);
      expect(performance.now() - startedAt).toBeLessThan(2000);
      expect(error).toBeInstanceOf(LiveTranscriptionError);
      live.close();
    }
  });
});

describe('a streamed turn that fails', () => {
  it('is uploaded instead: nothing is lost', async () => {
    fake.setBehaviour('realtime', { failure: { kind: 'cut', afterChunks: 4 } });
    const { engine } = createEngine(
      parseSettings({ OPENAI_API_KEY: API_KEY, OPENAI_BASE_URL: fake.baseURL, STT_STREAMING: 'on', STT_MODEL: 'stt-model' }),
    );
    const live = engine.transcriber.openLive!()!;
    const liveTurn = live.begin(() => undefined);
    const pcm = new Int16Array([...silence(200), ...first, ...silence(300), ...second, ...silence(200)]);
    appendInFrames(liveTurn, pcm);
    const segment: MicSegment = { pcm, sampleRate: LIVE_SAMPLE_RATE, durationMs: (pcm.length * 1000) / LIVE_SAMPLE_RATE, speechMs: 2000 };
    const said: string[] = [];
    let fellBack: unknown;
    const ctx: TurnContext = {
      engine,
      history: new ConversationHistory({ budgetChars: 10_000, keepImages: 1 }),
      emit: ((event: string, payload: { text: string }) => {
        if (event === 'turn:user') said.push(payload.text);
      }) as TurnContext['emit'],
      minSpeechMs: 0,
      speechLookahead: 1,
      takeSnapshot: async () => undefined,
      play: () => undefined,
      whenPlayed: async () => undefined,
      flushPlayback: () => 0,
      onThinking: () => undefined,
      onLiveFallback: (error) => (fellBack = error),
    };
    const timeline = new TurnTimeline();
    const turn = new Turn(ctx, timeline, 1);
    await turn.run({ kind: 'voice', segment, live: liveTurn });
    expect(fellBack).toBeInstanceOf(LiveTranscriptionError);
    expect(timeline.has('sttFallback')).toBe(true);
    expect(fake.requestsTo('transcriptions')).toHaveLength(1);
    expect(said).toEqual([`${FIRST} ${SECOND}`]);
    live.close();
  }, 30_000);
});
