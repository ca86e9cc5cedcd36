/**
 * The three OpenAI stages (transcriber, chat model, speaker) against the fake OpenAI server (real
 * HTTP, real wire format, real media): what they send, how they stream, how each failure reaches
 * the user, and how a cancel ends it. TTS formats: openai-speaker.test.ts; streamed STT:
 * openai-realtime-transcription.test.ts.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseSettings } from '../../server/config.js';
import { type ChatMessage, EngineError, type FrameImage, type MicSegment } from '../../server/assistant/engine.js';
import { isAbortError } from '../../server/assistant/openai/client.js';
import { createEngine } from '../../server/engines.js';
import { opusPacketDurationMs } from '../../server/media/opus-toc.js';
import { type FakeOpenAI, startFakeOpenAI } from '../fake-openai/server.js';

const run = promisify(execFile);
const API_KEY = 'sk-test-4f7a9c2e';
const QUESTION = 'what color is the box on my desk';

let fake: FakeOpenAI;
let dir: string;
let questionSegment: MicSegment;

/** The three stages as the server composes them from these settings (undefined removes one). */
function engineFor(overrides: Record<string, string | number | undefined> = {}) {
  const env: Record<string, string> = {
    OPENAI_API_KEY: API_KEY, OPENAI_BASE_URL: fake.baseURL, CHAT_MODEL: 'chat-model', TTS_MODEL: 'tts-model', STT_MODEL: 'stt-model',
  };
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[name];
    else env[name] = String(value);
  }
  const { engine } = createEngine(parseSettings(env));
  return {
    transcribe: (segment: MicSegment, signal: AbortSignal) => engine.transcriber.transcribe(segment, signal),
    chat: (history: readonly ChatMessage[], question: ChatMessage, signal: AbortSignal) => engine.chatModel.chat(history, question, signal),
    speak: (sentence: string, signal: AbortSignal) => engine.speaker.speak(sentence, signal),
  };
}

async function frame(r: number, g: number, b: number): Promise<FrameImage> {
  const jpeg = await sharp({ create: { width: 80, height: 60, channels: 3, background: { r, g, b } } }).jpeg().toBuffer();
  return { jpeg, width: 80, height: 60, source: 'camera' };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Runs `work` and returns what it threw (fails the test if it did not throw). */
async function failureOf(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

const never = new AbortController().signal;
const ask = { role: 'user', text: 'What is this?' } as const;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'openai-engine-test-'));
  const wavPath = path.join(dir, 'question.wav');
  await run('flite', ['-voice', 'slt', '-t', QUESTION, '-o', wavPath]);
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', wavPath, '-f', 's16le', '-ac', '1', '-ar', '16000', 'pipe:1'], {
    encoding: 'buffer',
    maxBuffer: 1 << 24,
  });
  const pcm = new Int16Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + stdout.byteLength));
  questionSegment = { pcm, sampleRate: 16000, durationMs: (pcm.length / 16000) * 1000, speechMs: (pcm.length / 16000) * 1000 };
  fake = await startFakeOpenAI({ apiKey: API_KEY });
});
afterAll(async () => {
  await fake?.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  fake.reset();
  fake.configure({ transcript: undefined, reply: undefined, models: undefined, speechChunkBytes: undefined });
});

describe('OpenAIEngine', () => {
  it('transcribes a real spoken question, uploading the segment as an in-memory WAV', async () => {
    const text = await engineFor().transcribe(questionSegment, never);
    expect(text).toBe(QUESTION);
    const [request] = fake.requestsTo('transcriptions');
    expect(request.fields.model).toBe('stt-model');
    expect(request.files[0]).toMatchObject({ field: 'file', filename: 'speech.wav', type: 'audio/wav' });
    const wav = request.files[0].bytes;
    expect(wav.subarray(0, 4).toString('latin1')).toBe('RIFF');
    expect(wav.readUInt32LE(24)).toBe(16000);
    expect(wav.length).toBe(44 + questionSegment.pcm.length * 2);
  });

  it('sends system prompt, history in order and the question with its image as a data URL', async () => {
    const earlier = await frame(220, 30, 30);
    const now = await frame(30, 30, 220);
    const engine = engineFor({ SYSTEM_PROMPT: 'Answer briefly.', IMAGE_DETAIL: 'low' });
    const history = [
      { role: 'user', text: 'What colour is this?', image: earlier },
      { role: 'assistant', text: 'It is red.' },
    ] as const;
    const deltas = await collect(engine.chat(history, { role: 'user', text: 'And now?', image: now }, never));
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.join('')).toContain('You asked: "And now?"');
    expect(deltas.join('')).toContain('80 by 60 pixels and mostly blue');

    const body = fake.requestsTo('chat')[0].json as { model: string; stream: boolean; messages: unknown[] };
    expect(body.model).toBe('chat-model');
    expect(body.stream).toBe(true);
    const dataUrl = (image: FrameImage) => `data:image/jpeg;base64,${image.jpeg.toString('base64')}`;
    expect(body.messages).toEqual([
      { role: 'system', content: 'Answer briefly.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What colour is this?' },
          { type: 'image_url', image_url: { url: dataUrl(earlier), detail: 'low' } },
        ],
      },
      { role: 'assistant', content: 'It is red.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: 'And now?' },
          { type: 'image_url', image_url: { url: dataUrl(now), detail: 'low' } },
        ],
      },
    ]);
  });

  it('streams speech packet by packet (the first before the last byte is sent), Ogg-Opus demuxed untouched', async () => {
    fake.configure({ speechChunkBytes: 1024 });
    fake.setBehaviour('speech', { chunkGapMs: 60 });
    const engine = engineFor({ TTS_VOICE: 'coral', TTS_INSTRUCTIONS: 'Speak calmly.' });
    const packets: Buffer[] = [];
    let firstPacketAt = 0;
    for await (const packet of engine.speak('The box on your desk is blue.', never)) {
      firstPacketAt ||= performance.now();
      packets.push(packet);
    }
    const [request] = fake.requestsTo('speech');
    expect(firstPacketAt).toBeLessThan(request.lastByteAt!);
    expect(request.json).toEqual({
      model: 'tts-model',
      voice: 'coral',
      input: 'The box on your desk is blue.',
      response_format: 'opus',
      instructions: 'Speak calmly.',
    });
    const seconds = packets.reduce((ms, packet) => ms + opusPacketDurationMs(packet), 0) / 1000;
    expect(packets.length).toBeGreaterThan(50);
    expect(packets.every((packet) => opusPacketDurationMs(packet) === 20)).toBe(true);
    expect(seconds).toBeGreaterThan(1);
  });

  describe('maps each failure to an EngineError with a plain message', () => {
    it('401: a rejected key', async () => {
      const error = await failureOf(() => engineFor({ OPENAI_API_KEY: 'sk-wrong' }).transcribe(questionSegment, never));
      expect(error).toBeInstanceOf(EngineError);
      expect(error).toMatchObject({ kind: 'auth', userMessage: 'The OpenAI API key was rejected (401). Check OPENAI_API_KEY.' });
    });

    it('404: an unknown model, named', async () => {
      fake.configure({ models: ['chat-model', 'stt-model'] });
      const error = await failureOf(() => collect(engineFor().speak('Hello.', never)));
      expect(error).toMatchObject({ kind: 'not_found', userMessage: 'The model "tts-model" was not found (404). Check TTS_MODEL.' });
    });

    it('429: rate limited (after the retries before any byte)', async () => {
      fake.setBehaviour('chat', { failure: { kind: 'status', status: 429, retryAfterMs: 5 } });
      const error = await failureOf(() => collect(engineFor().chat([], ask, never)));
      expect(error).toMatchObject({ kind: 'rate_limit' });
      expect((error as EngineError).userMessage).toMatch(/429/);
      expect(fake.requestsTo('chat')).toHaveLength(2);
    });

    it('5xx: server error', async () => {
      fake.setBehaviour('speech', { failure: { kind: 'status', status: 503, retryAfterMs: 5 } });
      const error = await failureOf(() => collect(engineFor().speak('Hello.', never)));
      expect(error).toMatchObject({ kind: 'server', userMessage: 'OpenAI had a server error (503). Try again in a moment.' });
    });

    it('timeout: no answer within MODEL_TIMEOUT_MS', async () => {
      fake.setBehaviour('chat', { failure: { kind: 'hang' } });
      const error = await failureOf(() => collect(engineFor({ MODEL_TIMEOUT_MS: 200 }).chat([], ask, never)));
      expect(error).toMatchObject({ kind: 'timeout', userMessage: 'OpenAI did not answer the reply within 0.2 s. Try again.' });
      expect(fake.requestsTo('chat')).toHaveLength(2); // retried: no byte had arrived
    });

    it('timeout: a started stream that goes silent', async () => {
      fake.setBehaviour('chat', { failure: { kind: 'stall', afterChunks: 3 } });
      const deltas: string[] = [];
      const error = await failureOf(async () => {
        for await (const delta of engineFor({ MODEL_TIMEOUT_MS: 300 }).chat([], ask, never)) deltas.push(delta);
      });
      expect(error).toMatchObject({ kind: 'timeout', userMessage: 'The reply from OpenAI stalled for 0.3 s. Try again.' });
      expect(deltas).toHaveLength(2);
      expect(await fake.requestsTo('chat')[0].closed).toBe('client_closed');
      expect(fake.requestsTo('chat')).toHaveLength(1);
    });

    it('unavailable: nothing listening at the base URL', async () => {
      const closed = await startFakeOpenAI();
      const baseURL = closed.baseURL;
      await closed.close();
      const error = await failureOf(() => engineFor({ OPENAI_BASE_URL: baseURL }).transcribe(questionSegment, never));
      expect(error).toMatchObject({ kind: 'unavailable' });
      expect((error as EngineError).userMessage).toContain(new URL(baseURL).host);
    });

    it('stream_cut: the chat connection drops mid-reply, and is not retried', async () => {
      fake.setBehaviour('chat', { failure: { kind: 'cut', afterChunks: 3 } });
      const deltas: string[] = [];
      const error = await failureOf(async () => {
        for await (const delta of engineFor().chat([], ask, never)) deltas.push(delta);
      });
      expect(error).toMatchObject({ kind: 'stream_cut', userMessage: 'The reply from OpenAI was cut off. Try again.' });
      expect(deltas.length).toBe(2); // chunk 1 is the role-only delta
      expect(fake.requestsTo('chat')).toHaveLength(1);
    });

    it('stream_cut: a chat stream that ends cleanly without a finish_reason', async () => {
      fake.setBehaviour('chat', { failure: { kind: 'end_early', afterChunks: 4 } });
      const deltas: string[] = [];
      const error = await failureOf(async () => {
        for await (const delta of engineFor().chat([], ask, never)) deltas.push(delta);
      });
      expect(error).toMatchObject({ kind: 'stream_cut' });
      expect(deltas.length).toBe(3);
      expect(await fake.requestsTo('chat')[0].closed).toBe('complete');
    });

    it('stream_cut: the speech connection drops mid-audio, and is not retried', async () => {
      fake.configure({ speechChunkBytes: 1024 });
      fake.setBehaviour('speech', { failure: { kind: 'cut', afterChunks: 2 } });
      const received: Buffer[] = [];
      const error = await failureOf(async () => {
        for await (const packet of engineFor().speak('Hello there, how are you today?', never)) received.push(packet);
      });
      expect(error).toMatchObject({ kind: 'stream_cut', userMessage: 'The spoken reply from OpenAI was cut off. Try again.' });
      expect(received.length, 'the packets of the 2 KB that arrived were played').toBeGreaterThan(0);
      expect(fake.requestsTo('speech')).toHaveLength(1);
    });
  });

  it('an abort mid-stream rejects as a cancel, not a failure, and closes the connection', async () => {
    fake.setBehaviour('chat', { chunkGapMs: 100 });
    const cancel = new AbortController();
    const deltas: string[] = [];
    const error = await failureOf(async () => {
      for await (const delta of engineFor().chat([], ask, cancel.signal)) {
        deltas.push(delta);
        cancel.abort();
      }
    });
    expect(isAbortError(error)).toBe(true);
    expect(error).not.toBeInstanceOf(EngineError);
    expect(deltas).toHaveLength(1);
    const [request] = fake.requestsTo('chat');
    expect(await request.closed).toBe('client_closed');
    expect(request.chunksSent).toBeLessThan(5);

    fake.setBehaviour('speech', { chunkGapMs: 100 });
    const stopSpeech = new AbortController();
    const speechError = await failureOf(async () => {
      for await (const _chunk of engineFor().speak('A longer sentence to speak.', stopSpeech.signal)) stopSpeech.abort();
    });
    expect(isAbortError(speechError)).toBe(true);
    expect(await fake.requestsTo('speech')[0].closed).toBe('client_closed');
    expect(isAbortError(new EngineError('server', 'x'))).toBe(false);
  });

  it('a cancel during a retry back-off rejects at once', async () => {
    fake.setBehaviour('speech', { failure: { kind: 'status', status: 429, retryAfterMs: 5000 } });
    const cancel = new AbortController();
    const startedAt = performance.now();
    setTimeout(() => cancel.abort(), 200);
    const error = await failureOf(() => collect(engineFor().speak('Hello.', cancel.signal)));
    expect(isAbortError(error)).toBe(true);
    expect(performance.now() - startedAt).toBeLessThan(1000);
    expect(fake.requestsTo('speech')).toHaveLength(1);
  });

  it('honours a custom OPENAI_BASE_URL path', async () => {
    const prefixed = await startFakeOpenAI({ basePath: '/proxy/openai/v1', transcript: 'via the proxy' });
    try {
      const engine = engineFor({ OPENAI_BASE_URL: prefixed.baseURL });
      expect(await engine.transcribe(questionSegment, never)).toBe('via the proxy');
      expect(prefixed.requests.map((r) => r.path)).toEqual(['/proxy/openai/v1/audio/transcriptions']);
      expect(fake.requests).toHaveLength(0);
    } finally {
      await prefixed.close();
    }
  });

  it('talks to Azure OpenAI deployments when AZURE_OPENAI_ENDPOINT is set', async () => {
    fake.configure({ transcript: 'azure words' });
    const engine = engineFor({
      AZURE_OPENAI_ENDPOINT: new URL(fake.baseURL).origin,
      AZURE_OPENAI_API_KEY: API_KEY,
      OPENAI_API_KEY: undefined,
    });
    expect(await engine.transcribe(questionSegment, never)).toBe('azure words');
    const [request] = fake.requests;
    expect(request.path).toBe('/openai/deployments/stt-model/audio/transcriptions?api-version=2025-04-01-preview');
    expect(request.headers['api-key']).toBe(API_KEY);
  });

  it('sends the API key only in the Authorization header', async () => {
    fake.configure({ transcript: 'fixed words' });
    const engine = engineFor();
    await engine.transcribe(questionSegment, never);
    await collect(engine.chat([], ask, never));
    await collect(engine.speak('Hi.', never));
    expect(fake.requests).toHaveLength(3);
    for (const request of fake.requests) {
      expect(request.headers.authorization).toBe(`Bearer ${API_KEY}`);
      const { authorization: _auth, ...otherHeaders } = request.headers;
      const elsewhere = JSON.stringify([request.path, otherHeaders, request.json ?? null, request.fields]);
      expect(elsewhere).not.toContain(API_KEY);
      expect(request.files.every((file) => !file.bytes.includes(API_KEY))).toBe(true);
    }
  });
});
