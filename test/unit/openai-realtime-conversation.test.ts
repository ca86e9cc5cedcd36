/**
 * The speech-to-speech conversation (ASSISTANT_ENGINE=realtime) against the fake's GA Realtime
 * session: real flite speech appended as 24 kHz PCM16 and committed, a JPEG as `input_image`, the
 * reply's audio (pocketsphinx hears it) and words, images bounded, cancel + truncate at the
 * audio played, Azure's URL and key header, and each failure in words with the call going on.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EngineError, LIVE_SAMPLE_RATE, type FrameImage, type SpeechToSpeechHandlers } from '../../server/assistant/engine.js';
import { RealtimeConversation, type RealtimeConversationOptions } from '../../server/assistant/openai/realtime-conversation.js';
import { resolveRealtime } from '../../server/realtime-settings.js';
import { recogniseSpeech, summariseImage } from '../fake-openai/media.js';
import { type FakeOpenAI, startFakeOpenAI } from '../fake-openai/server.js';
import { encodeWav } from '../../server/media/wav.js';

const run = promisify(execFile);
const API_KEY = 'sk-s2s-test-5e1f';
const QUESTION = 'please tell me what colour you can see';

let fake: FakeOpenAI;
let dir: string;
let question: Int16Array;
let blue: FrameImage;
let red: FrameImage;
const calls: RealtimeConversation[] = [];

async function speech24k(text: string): Promise<Int16Array> {
  const wav = path.join(dir, 'question.wav');
  await run('flite', ['-voice', 'slt', '-t', text, '-o', wav]);
  const { stdout } = await run('ffmpeg', ['-v', 'error', '-i', wav, '-f', 's16le', '-ac', '1', '-ar', String(LIVE_SAMPLE_RATE), 'pipe:1'], { encoding: 'buffer', maxBuffer: 1 << 24 });
  return new Int16Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + stdout.byteLength));
}

async function still(r: number, g: number, b: number): Promise<FrameImage> {
  const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r, g, b } } }).jpeg().toBuffer();
  return { jpeg, width: 64, height: 48, source: 'camera' };
}

function conversation(options: Partial<RealtimeConversationOptions> = {}): RealtimeConversation {
  const endpoint = resolveRealtime({ OPENAI_API_KEY: API_KEY, OPENAI_BASE_URL: fake.baseURL, REALTIME_MODEL: 'gpt-realtime' }, [])!;
  const call = new RealtimeConversation({
    ...endpoint,
    model: 'gpt-realtime',
    instructions: 'Be brief.',
    voice: 'marin',
    transcriptionModel: 'gpt-4o-mini-transcribe',
    imageDetail: 'auto',
    maxImages: 2,
    openTimeoutMs: 5000,
    backoffMs: 50,
    ...options,
  });
  calls.push(call);
  return call;
}

/** What a reply handed over. */
function collector() {
  const got = { user: '', words: '', audio: [] as Int16Array[], commitSent: false, requested: false, firstAudioAt: 0 };
  const handlers: SpeechToSpeechHandlers = {
    onCommitSent: () => (got.commitSent = true),
    onResponseRequested: () => (got.requested = true),
    onUserTranscript: (text) => (got.user = text),
    onAudio: (pcm) => {
      got.firstAudioAt ||= performance.now();
      got.audio.push(pcm);
    },
    onTranscriptDelta: (text) => (got.words += text),
  };
  const audioMs = () => (got.audio.reduce((n, pcm) => n + pcm.length, 0) * 1000) / LIVE_SAMPLE_RATE;
  return { got, handlers, audioMs };
}

function appendInFrames(call: RealtimeConversation, pcm: Int16Array): void {
  for (let at = 0; at < pcm.length; at += 480) call.appendAudio(pcm.subarray(at, at + 480));
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function colourReply({ messages }: { messages: Array<{ role: string; text: string; image?: { bytes: Buffer } }> }): Promise<string> {
  const asked = [...messages].reverse().find((turn) => turn.role === 'user');
  if (!asked?.image) return 'I was not sent a picture.';
  return `I can see something ${(await summariseImage(asked.image.bytes)).colourName}.`;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'realtime-s2s-'));
  [question, blue, red] = await Promise.all([speech24k(QUESTION), still(0, 0, 255), still(230, 20, 20)]);
  fake = await startFakeOpenAI({ apiKey: API_KEY });
}, 30_000);
afterAll(async () => {
  for (const call of calls) call.close();
  await fake?.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  for (const call of calls.splice(0)) call.close();
  fake.reset();
  fake.configure({ transcript: undefined, reply: colourReply, realtimeConversation: undefined });
});

describe('RealtimeConversation: a push-to-talk turn', () => {
  it('opens one socket with the GA session, commits the spoken question, sends the frame and speaks a reply about it', async () => {
    const call = conversation();
    await until(() => call.isOpen, 5000, 'the socket to open');
    const [session] = fake.realtimeSessions;
    expect(session!.path).toBe('/v1/realtime?model=gpt-realtime');
    expect(session!.headers.authorization).toBe(`Bearer ${API_KEY}`);
    await until(() => session!.events.some((e) => e.type === 'session.updated'), 2000, 'session.updated');
    expect(session!.session).toMatchObject({
      type: 'realtime',
      instructions: 'Be brief.',
      audio: {
        input: { format: { type: 'audio/pcm', rate: 24000 }, transcription: { model: 'gpt-4o-mini-transcribe' }, turn_detection: null },
        output: { format: { type: 'audio/pcm', rate: 24000 }, voice: 'marin' },
      },
    });

    appendInFrames(call, question);
    const { got, handlers, audioMs } = collector();
    const reply = call.respond({ commit: true, image: Promise.resolve(blue) }, handlers);
    expect(got.commitSent).toBe(true);
    expect(await reply.done).toBe('completed');
    expect(got.requested).toBe(true);
    await until(() => got.user !== '', 5000, 'the user transcript');

    expect(got.user).toBe(QUESTION.replace('colour', 'color'));
    expect(got.words).toBe('I can see something blue.');
    const appends = session!.events.filter((e) => e.direction === 'in' && e.type === 'input_audio_buffer.append').length;
    expect(session!.appendedBytes).toBe(question.length * 2);
    expect(appends).toBeLessThanOrEqual(Math.ceil(question.length / 2400) + 1); // 100 ms per event
    const [audioItem, imageItem] = session!.items;
    expect(audioItem!.contentTypes).toEqual(['input_audio']);
    expect(imageItem!.contentTypes).toEqual(['input_image']);
    expect(imageItem!.image!.bytes.equals(blue.jpeg)).toBe(true);
    const order = session!.events.filter((e) => e.direction === 'in').map((e) => e.type);
    expect(order.indexOf('input_audio_buffer.commit')).toBeLessThan(order.indexOf('conversation.item.create'));
    expect(order.indexOf('conversation.item.create')).toBeLessThan(order.indexOf('response.create'));

    const played = new Int16Array(got.audio.reduce((n, pcm) => n + pcm.length, 0));
    let at = 0;
    for (const pcm of got.audio) played.set(pcm, (at += pcm.length) - pcm.length);
    expect(audioMs()).toBeGreaterThan(1000);
    const heard = await recogniseSpeech(encodeWav({ pcm: played, sampleRate: LIVE_SAMPLE_RATE, durationMs: 0, speechMs: 0 }));
    const replyWords = got.words.toLowerCase().replace(/[^a-z ]/g, '').split(' ');
    const heardWords = new Set(heard.split(/\s+/));
    expect(replyWords.filter((word) => heardWords.has(word)).length / replyWords.length, `pocketsphinx heard "${heard}"`).toBeGreaterThanOrEqual(0.6);
  }, 30_000);

  it('keeps at most maxImages stills in the conversation, deleting the oldest', async () => {
    const call = conversation({ maxImages: 2 });
    for (const [text, image] of [['one', red], ['two', blue], ['three', red]] as const) {
      const { handlers } = collector();
      expect(await call.respond({ text: `question ${text}`, image: Promise.resolve(image) }, handlers).done).toBe('completed');
    }
    const images = fake.realtimeSessions[0]!.items.filter((item) => item.contentTypes.includes('input_image'));
    expect(images).toHaveLength(3);
    expect(images.map((item) => item.deletedAt !== undefined)).toEqual([true, false, false]);
    expect(fake.realtimeSessions[0]!.responses.at(-1)!.text).toBe('I can see something red.');
  }, 30_000);

  it('a cancel stops the reply being generated and truncates it at the audio played; the next turn works', async () => {
    fake.setBehaviour('realtime', { chunkGapMs: 40 });
    const call = conversation();
    fake.configure({ reply: () => 'Here is a long answer with many words in it so that it takes a while to say all of it out loud.' });
    const { got, handlers, audioMs } = collector();
    const reply = call.respond({ text: 'talk for a while', image: Promise.resolve(blue) }, handlers);
    await until(() => audioMs() >= 600, 10_000, '600 ms of reply audio');
    reply.cancel(320);
    expect(await reply.done).toBe('cancelled');
    const session = fake.realtimeSessions[0]!;
    await until(() => session.truncations.length === 1 && session.responses[0]!.status === 'cancelled', 5000, 'the truncation and the cancel');
    expect(session.truncations[0]).toMatchObject({ itemId: session.responses[0]!.itemId, audioEndMs: 320 });
    expect(session.events.some((e) => e.direction === 'in' && e.type === 'response.cancel')).toBe(true);
    const wordsAtCancel = got.words;
    expect(session.responses[0]!.audioSentMs).toBeLessThan(4000); // generation stopped early

    fake.setBehaviour('realtime', {});
    fake.configure({ reply: colourReply });
    const next = collector();
    expect(await call.respond({ text: 'and now?', image: Promise.resolve(red) }, next.handlers).done).toBe('completed');
    expect(next.got.words).toBe('I can see something red.');
    expect(got.words, 'nothing of the cancelled reply arrives after the cancel').toBe(wordsAtCancel);
    expect(fake.realtimeSessions).toHaveLength(1);
  }, 30_000);
});

describe('RealtimeConversation: hands-free, the server finds the turn', () => {
  const turnInput = (session: { session: Record<string, unknown> }) => (session.session.audio as { input: { turn_detection: unknown } }).input.turn_detection;
  const detection = (events: string[], onCommitted: (itemId: string) => void = () => {}) => ({
    threshold: 0.5,
    prefixPaddingMs: 300,
    silenceMs: 640,
    onSpeechStarted: (ms: number) => events.push(`started ${ms}`),
    onSpeechStopped: (ms: number) => events.push(`stopped ${ms}`),
    onCommitted: (itemId: string) => (events.push('committed'), onCommitted(itemId)),
  });

  it('asks for server_vad without auto responses in hands-free, and for none in push-to-talk (session.update per mode)', async () => {
    const call = conversation();
    await until(() => call.isOpen, 5000, 'the socket to open');
    const session = fake.realtimeSessions[0]!;
    await until(() => session.events.some((e) => e.type === 'session.updated'), 2000, 'session.updated');
    expect(turnInput(session)).toBeNull();
    call.setTurnDetection(detection([]));
    await until(() => turnInput(session) !== null, 2000, 'turn detection on');
    expect(turnInput(session)).toEqual({ type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 640, create_response: false, interrupt_response: false });
    call.setTurnDetection(null);
    await until(() => turnInput(session) === null, 2000, 'turn detection off');
    expect(session.events.filter((e) => e.direction === 'in' && e.type === 'session.update')).toHaveLength(3);
  });

  it('a session opened in hands-free asks for it in its first session.update', async () => {
    const call = conversation();
    call.setTurnDetection(detection([]));
    await until(() => call.isOpen, 5000, 'the socket to open');
    const session = fake.realtimeSessions[0]!;
    await until(() => session.events.some((e) => e.type === 'session.updated'), 2000, 'session.updated');
    expect(turnInput(session)).toMatchObject({ type: 'server_vad', create_response: false, interrupt_response: false });
    expect(session.events.filter((e) => e.direction === 'in' && e.type === 'session.update')).toHaveLength(1);
  });

  it('audio appended all along: the server commits the question, the frame goes in, and the committed item is answered', async () => {
    const events: string[] = [];
    const { got, handlers } = collector();
    let reply: ReturnType<RealtimeConversation['respond']> | undefined;
    const call = conversation();
    call.setTurnDetection(detection(events, (itemId) => (reply = call.respond({ committedItemId: itemId, image: Promise.resolve(red) }, handlers))));
    await until(() => call.isOpen, 5000, 'the socket to open');
    appendInFrames(call, new Int16Array(LIVE_SAMPLE_RATE)); // 1 s of silence first
    appendInFrames(call, question);
    appendInFrames(call, new Int16Array(LIVE_SAMPLE_RATE));
    await until(() => reply !== undefined, 5000, 'the server to commit');
    expect(await reply!.done).toBe('completed');
    await until(() => got.user !== '', 5000, 'the user transcript');
    const session = fake.realtimeSessions[0]!;
    expect(events[0]).toMatch(/^started (\d+)$/);
    expect(Number(events[0]!.split(' ')[1])).toBeGreaterThanOrEqual(600);
    expect(Number(events[0]!.split(' ')[1])).toBeLessThanOrEqual(1000);
    expect(events.slice(1)).toEqual([expect.stringMatching(/^stopped \d+$/), 'committed']);
    expect(session.commits).toHaveLength(1);
    expect(session.commits[0]!.byServer).toBe(true);
    expect(session.events.some((e) => e.direction === 'in' && e.type === 'input_audio_buffer.commit')).toBe(false);
    expect(got.words).toMatch(/red/);
    expect(got.user.split(' ').filter((word) => QUESTION.includes(word)).length).toBeGreaterThanOrEqual(4);
    const image = session.items.findIndex((item) => item.contentTypes.includes('input_image'));
    const audio = session.items.findIndex((item) => item.contentTypes.includes('input_audio'));
    expect(image).toBeGreaterThan(audio); // the frame of the moment the question ended
  }, 30_000);

  it('a committed item that is not answered is dropped from the conversation', async () => {
    const events: string[] = [];
    const call = conversation();
    let dropped = '';
    call.setTurnDetection(detection(events, (itemId) => (call.dropItem(itemId), (dropped = itemId))));
    await until(() => call.isOpen, 5000, 'the socket to open');
    appendInFrames(call, question);
    appendInFrames(call, new Int16Array(LIVE_SAMPLE_RATE));
    await until(() => dropped !== '', 5000, 'the commit');
    const session = fake.realtimeSessions[0]!;
    await until(() => session.items.some((item) => item.id === dropped && item.deletedAt !== undefined), 2000, 'the delete');
    expect(session.responses).toHaveLength(0);
  }, 30_000);
});

describe('RealtimeConversation: a reloaded page', () => {
  it('gives the conversation so far to the model before the first turn, once', async () => {
    const call = conversation();
    call.remember([{ role: 'user', text: 'my name is Ada' }, { role: 'assistant', text: 'Hello Ada.' }]);
    call.remember([{ role: 'user', text: 'given twice' }]);
    expect(await call.respond({ text: 'what is my name', image: Promise.resolve(blue) }, collector().handlers).done).toBe('completed');
    const texts = fake.realtimeSessions[0]!.items.filter((item) => item.text !== undefined && !item.contentTypes.includes('output_audio')).map((item) => `${item.role}: ${item.text}`);
    expect(texts).toEqual(['user: my name is Ada', 'assistant: Hello Ada.', 'user: what is my name']);
  }, 15_000);
});

describe('RealtimeConversation: its socket', () => {
  it('closes with the call and is not reopened', async () => {
    const call = conversation({ backoffMs: 20 });
    await until(() => call.isOpen, 5000, 'the socket to open');
    call.close();
    await fake.realtimeSessions[0]!.closed;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(fake.realtimeSessions).toHaveLength(1);
    expect(call.isOpen).toBe(false);
  });
});

describe('RealtimeConversation: Azure', () => {
  it('connects to wss://<resource>/openai/v1/realtime?model=<deployment> with the api-key header', async () => {
    const origin = new URL(fake.baseURL).origin;
    const endpoint = resolveRealtime({ AZURE_OPENAI_ENDPOINT: `${origin}/`, AZURE_OPENAI_API_KEY: API_KEY, REALTIME_MODEL: 'my-realtime-deployment' }, [])!;
    expect(endpoint.url.href).toBe(`${origin.replace('http:', 'ws:')}/openai/v1/realtime?model=my-realtime-deployment`);
    expect(resolveRealtime({ AZURE_OPENAI_ENDPOINT: 'https://res.openai.azure.com/openai', AZURE_OPENAI_API_KEY: 'k', REALTIME_MODEL: 'dep' }, [])!.url.href).toBe(
      'wss://res.openai.azure.com/openai/v1/realtime?model=dep',
    );
    const call = conversation({ ...endpoint, model: 'my-realtime-deployment' });
    const { got, handlers } = collector();
    expect(await call.respond({ text: 'what is this', image: Promise.resolve(blue) }, handlers).done).toBe('completed');
    expect(got.words).toBe('I can see something blue.');
    const [session] = fake.realtimeSessions;
    expect(session!.path).toBe('/openai/v1/realtime?model=my-realtime-deployment');
    expect(session!.headers['api-key']).toBe(API_KEY);
    expect(session!.headers.authorization).toBeUndefined();
  }, 30_000);
});

describe('RealtimeConversation: failures are told in words and the call goes on', () => {
  it('a rejected key fails the turn naming OPENAI_API_KEY', async () => {
    const endpoint = resolveRealtime({ OPENAI_API_KEY: 'sk-wrong', OPENAI_BASE_URL: fake.baseURL, REALTIME_MODEL: 'gpt-realtime' }, [])!;
    const call = conversation({ ...endpoint, backoffMs: 10_000 });
    const failure = await call.respond({ text: 'hello' }, collector().handlers).done.catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EngineError);
    expect(failure).toMatchObject({ kind: 'auth' });
    expect((failure as EngineError).userMessage).toContain('OPENAI_API_KEY');
    expect(fake.realtimeSessions.map((s) => s.refusedWith)).toContain(401);
  }, 15_000);

  it('a rate-limited response is a rate_limit error; the next one is answered on the same socket', async () => {
    const call = conversation();
    fake.configure({ realtimeConversation: { responseError: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests.' } } });
    const failure = await call.respond({ text: 'hello' }, collector().handlers).done.catch((error: unknown) => error);
    expect(failure).toMatchObject({ kind: 'rate_limit' });
    fake.configure({ realtimeConversation: undefined });
    const { got, handlers } = collector();
    expect(await call.respond({ text: 'again', image: Promise.resolve(blue) }, handlers).done).toBe('completed');
    expect(got.words).toContain('blue');
    expect(fake.realtimeSessions).toHaveLength(1);
  }, 15_000);

  it('a socket lost mid-reply fails the turn as cut off; a new socket opens and carries the conversation so far', async () => {
    const call = conversation();
    expect(await call.respond({ text: 'first question', image: Promise.resolve(red) }, collector().handlers).done).toBe('completed');
    fake.configure({ realtimeConversation: { cutAfterAudioDeltas: 3 } });
    const cut = collector();
    const failure = await call.respond({ text: 'second question', image: Promise.resolve(blue) }, cut.handlers).done.catch((error: unknown) => error);
    expect(failure).toMatchObject({ kind: 'stream_cut' });
    expect(cut.audioMs()).toBeGreaterThan(0);
    fake.configure({ realtimeConversation: undefined });
    await until(() => call.isOpen && fake.realtimeSessions.length === 2, 5000, 'the reconnect');
    const { got, handlers } = collector();
    expect(await call.respond({ text: 'third question', image: Promise.resolve(blue) }, handlers).done).toBe('completed');
    expect(got.words).toContain('blue');
    const replayed = fake.realtimeSessions[1]!.items.filter((item) => item.text !== undefined).map((item) => `${item.role}: ${item.text}`);
    expect(replayed.slice(0, 2)).toEqual(['user: first question', 'assistant: I can see something red.']);
  }, 20_000);

  it('session expiry: the error is told, the socket reopens and the next turn is answered', async () => {
    fake.configure({ realtimeConversation: { expireAfterMs: 400 } });
    const events: Array<{ open: boolean; error?: EngineError }> = [];
    const call = conversation({ onConnection: (event) => events.push(event) });
    await until(() => events.some((event) => !event.open), 5000, 'the expiry');
    expect(events.find((event) => !event.open)!.error).toMatchObject({ kind: 'timeout' });
    expect(events.find((event) => !event.open)!.error!.userMessage).toMatch(/time limit/);
    fake.configure({ realtimeConversation: undefined });
    const { got, handlers } = collector();
    expect(await call.respond({ text: 'still there?', image: Promise.resolve(blue) }, handlers).done).toBe('completed');
    expect(got.words).toContain('blue');
    expect(fake.realtimeSessions.length).toBeGreaterThanOrEqual(2);
  }, 15_000);
});
