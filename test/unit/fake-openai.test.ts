/**
 * The fake OpenAI server speaks the real protocol: it is driven here by the official `openai`
 * package itself, on real media (flite speech, sharp images), and its failure injection produces
 * the errors the package raises against the real API.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type FakeOpenAI, startFakeOpenAI } from '../fake-openai/server.js';

const run = promisify(execFile);
const QUESTION = 'what color is the box on my desk';

let fake: FakeOpenAI;
let dir: string;
let questionWav: Buffer;

const client = (options: { maxRetries?: number; timeout?: number; apiKey?: string } = {}) =>
  new OpenAI({ apiKey: 'test-key', baseURL: fake.baseURL, maxRetries: 0, ...options });

async function solidJpeg(r: number, g: number, b: number): Promise<Buffer> {
  return sharp({ create: { width: 64, height: 48, channels: 3, background: { r, g, b } } }).jpeg().toBuffer();
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'fake-openai-test-'));
  await run('flite', ['-voice', 'slt', '-t', QUESTION, '-o', path.join(dir, 'question.wav')]);
  questionWav = await readFile(path.join(dir, 'question.wav'));
  fake = await startFakeOpenAI();
});
afterAll(async () => {
  await fake?.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  fake.reset();
  fake.configure({ transcript: undefined, reply: undefined, apiKey: undefined, models: undefined, speechChunkBytes: undefined });
});

describe('fake OpenAI, driven by the openai package', () => {
  it('transcribes an uploaded WAV with pocketsphinx and records the multipart upload', async () => {
    const file = await toFile(questionWav, 'question.wav', { type: 'audio/wav' });
    const result = await client().audio.transcriptions.create({ file, model: 'gpt-4o-mini-transcribe' });
    expect(result.text).toBe(QUESTION);
    const [request] = fake.requestsTo('transcriptions');
    expect(request.path).toBe('/v1/audio/transcriptions');
    expect(request.fields.model).toBe('gpt-4o-mini-transcribe');
    expect(request.files).toHaveLength(1);
    expect(request.files[0]).toMatchObject({ field: 'file', filename: 'question.wav', type: 'audio/wav' });
    expect(request.files[0].bytes.equals(questionWav)).toBe(true);
  });

  it('streams a chat completion that echoes the question and names the image colour', async () => {
    const jpeg = await solidJpeg(30, 40, 220);
    const stream = await client().chat.completions.create({
      model: 'gpt-4.1-mini',
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What do you see?' },
            { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${jpeg.toString('base64')}`, detail: 'low' } },
          ],
        },
      ],
    });
    const deltas: string[] = [];
    const finishReasons: Array<string | null> = [];
    let usageChunks = 0;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      if (chunk.usage) usageChunks += 1;
      if (chunk.choices[0]?.delta.content) deltas.push(chunk.choices[0].delta.content);
      if (chunk.choices[0]) finishReasons.push(chunk.choices[0].finish_reason);
    }
    const reply = deltas.join('');
    expect(deltas.length).toBeGreaterThan(5);
    expect(reply).toContain('You asked: "What do you see?"');
    expect(reply).toContain('64 by 48 pixels and mostly blue');
    expect(finishReasons.at(-1)).toBe('stop');
    expect(finishReasons.slice(0, -1).every((reason) => reason === null)).toBe(true);
    expect(usageChunks).toBe(1);
    expect(fake.requestsTo('chat')[0].headers['content-type']).toContain('application/json');
  });

  it('ends the raw event stream with a stop chunk and data: [DONE]', async () => {
    const response = await client()
      .chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hello' }] })
      .asResponse();
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const events = (await response.text()).split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(JSON.parse(events.at(-2)!.slice('data: '.length)).choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
  });

  it('streams speech as real Ogg-Opus at 48 kHz, in several chunks with the set gaps', async () => {
    fake.configure({ speechChunkBytes: 1024 });
    fake.setBehaviour('speech', { chunkGapMs: 40 });
    const response = await client().audio.speech.create({
      model: 'gpt-4o-mini-tts',
      voice: 'alloy',
      input: 'The box on your desk is blue.',
      response_format: 'opus',
    });
    expect(response.headers.get('content-type')).toBe('audio/ogg');
    const ogg = Buffer.from(await response.arrayBuffer());
    expect(ogg.subarray(0, 4).toString('latin1')).toBe('OggS');
    const oggPath = path.join(dir, 'speech.ogg');
    await writeFile(oggPath, ogg);
    const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,sample_rate:format=duration', '-of', 'json', oggPath]);
    const probe = JSON.parse(stdout) as { streams: Array<{ codec_name: string }>; format: { duration: string } };
    expect(probe.streams[0].codec_name).toBe('opus');
    expect(Number(probe.format.duration)).toBeGreaterThan(1);
    const [request] = fake.requestsTo('speech');
    expect(request.chunksSent).toBe(Math.ceil(ogg.length / 1024));
    expect(request.lastByteAt! - request.firstByteAt!).toBeGreaterThanOrEqual((request.chunksSent - 1) * 40 - 5);
  });

  it('delays the first byte as set and records model time', async () => {
    fake.configure({ transcript: 'fixed words' });
    fake.setBehaviour('transcriptions', { firstByteDelayMs: 150 });
    const file = await toFile(questionWav, 'q.wav', { type: 'audio/wav' });
    const result = await client().audio.transcriptions.create({ file, model: 'whisper-1' });
    expect(result.text).toBe('fixed words');
    const [request] = fake.requestsTo('transcriptions');
    expect(request.firstByteAt! - request.receivedAt).toBeGreaterThanOrEqual(145);
    expect(request.outcome).toBe('complete');
  });

  it('rejects a wrong key with the 401 the package maps to AuthenticationError', async () => {
    fake.configure({ apiKey: 'right-key' });
    const error = await client({ apiKey: 'wrong-key' })
      .chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key');
    expect(fake.requests[0].headers.authorization).toBe('Bearer wrong-key');
  });

  it('answers an unknown model with 404 model_not_found', async () => {
    fake.configure({ models: ['tts-1'] });
    const error = await client()
      .audio.speech.create({ model: 'no-such-tts', voice: 'alloy', input: 'hi', response_format: 'opus' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as Error).message).toContain('The model `no-such-tts` does not exist');
  });

  it('injects 429 with retry-after-ms, which the package retries, and 500 when retries run out', async () => {
    fake.configure({ transcript: 'after retry' });
    fake.setBehaviour('transcriptions', { failure: { kind: 'status', status: 429, retryAfterMs: 10 }, failureTimes: 1 });
    const file = await toFile(questionWav, 'q.wav', { type: 'audio/wav' });
    const result = await client({ maxRetries: 1 }).audio.transcriptions.create({ file, model: 'whisper-1' });
    expect(result.text).toBe('after retry');
    expect(fake.requests.map((r) => r.status)).toEqual([429, 200]);
    expect(fake.requests[1].headers['x-stainless-retry-count']).toBe('1');

    fake.setBehaviour('chat', { failure: { kind: 'status', status: 500 } });
    const error = await client()
      .chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect((error as InstanceType<typeof OpenAI.APIError>).type).toBe('server_error');
  });

  it('hangs until the client times out, and sees the client close', async () => {
    fake.setBehaviour('chat', { failure: { kind: 'hang' } });
    const error = await client({ timeout: 200 })
      .chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    expect(await fake.requests[0].closed).toBe('client_closed');
  });

  it('cuts a stream mid-reply by destroying the socket', async () => {
    fake.setBehaviour('chat', { failure: { kind: 'cut', afterChunks: 3 } });
    const stream = await client().chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const deltas: string[] = [];
    const consume = async () => {
      for await (const chunk of stream) deltas.push(chunk.choices[0]?.delta.content ?? '');
    };
    await expect(consume()).rejects.toThrow();
    expect(deltas).toHaveLength(3);
    expect(await fake.requests[0].closed).toBe('cut');
  });

  it('answers paths outside the base path with 404 Invalid URL', async () => {
    const response = await fetch(fake.baseURL.replace('/v1', '/v2/chat/completions'), { method: 'POST' });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { message: string } }).error.message).toBe('Invalid URL (POST /v2/chat/completions)');
  });

  it('speaks PCM, streamed WAV and MP3 as well as Ogg-Opus, and refuses other formats like OpenAI', async () => {
    const speak = async (format: 'pcm' | 'wav' | 'mp3') => {
      const response = await client().audio.speech.create({ model: 'tts', voice: 'alloy', input: 'Hello there.', response_format: format });
      return { type: response.headers.get('content-type'), bytes: Buffer.from(await response.arrayBuffer()) };
    };
    const [pcm, wav, mp3] = [await speak('pcm'), await speak('wav'), await speak('mp3')];
    expect(pcm.type).toBe('audio/pcm');
    expect(wav.type).toBe('audio/wav');
    expect(wav.bytes.subarray(0, 4).toString('latin1')).toBe('RIFF');
    expect(wav.bytes.readUInt32LE(24)).toBe(24_000);
    expect(wav.bytes.readUInt32LE(40)).toBe(0xffffffff); // streamed: size unknown up front
    expect(wav.bytes.subarray(44).equals(pcm.bytes)).toBe(true); // the same 24 kHz samples
    expect(pcm.bytes.length / 48_000).toBeGreaterThan(0.5);
    const mp3Path = path.join(dir, 'speech.mp3');
    await writeFile(mp3Path, mp3.bytes);
    const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,sample_rate', '-of', 'csv=p=0', mp3Path]);
    expect(stdout.trim()).toBe('mp3,24000');

    const refused = await client().audio.speech.create({ model: 'tts', voice: 'alloy', input: 'Hi.', response_format: 'flac' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).param).toBe('response_format');
  });

  it('opens Realtime transcription sessions only with the key and intent=transcription (no model)', async () => {
    fake.configure({ apiKey: 'test-key' });
    const base = fake.baseURL.replace('http:', 'ws:');
    const firstEvent = (url: string, key = 'test-key') =>
      new Promise<{ status?: number; event?: { type: string; error?: { message: string }; session?: { type: string } } }>((resolve) => {
        const socket = new WebSocket(url, { headers: { Authorization: `Bearer ${key}` } });
        socket.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
        socket.once('message', (data) => {
          resolve({ event: JSON.parse(data.toString()) });
          socket.close();
        });
        socket.once('error', () => undefined);
      });
    expect((await firstEvent(`${base}/realtime?intent=transcription`)).event).toMatchObject({ type: 'session.created', session: { type: 'transcription' } });
    expect((await firstEvent(`${base}/realtime?intent=transcription`, 'wrong')).status).toBe(401);
    const withModel = await firstEvent(`${base}/realtime?intent=transcription&model=gpt-4o-transcribe`);
    expect(withModel.event?.type).toBe('error');
    expect(withModel.event?.error?.message).toMatch(/must not provide a model/);
    expect(fake.realtimeSessions.map((session) => session.refusedWith)).toEqual([undefined, 401, undefined]);
  });
});
