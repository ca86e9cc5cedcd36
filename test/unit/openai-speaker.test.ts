/**
 * The OpenAI speaker in every TTS_FORMAT against the fake's real speech (flite → Ogg-Opus, PCM,
 * WAV, MP3): Opus packets come out while the response is still arriving, and they say the words.
 */
import opus from '@discordjs/opus';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EngineError } from '../../server/assistant/engine.js';
import { transcribeWithPocketsphinx } from '../../server/assistant/offline/transcriber.js';
import { parseSettings } from '../../server/config.js';
import { createEngine } from '../../server/engines.js';
import { opusPacketDurationMs } from '../../server/media/opus-toc.js';
import { type FakeOpenAI, startFakeOpenAI } from '../fake-openai/server.js';

const API_KEY = 'sk-speaker-test';
const SENTENCE = 'The box on your desk is blue and the lamp is on.';
let fake: FakeOpenAI;

function speakerFor(env: Record<string, string>) {
  return createEngine(parseSettings({ OPENAI_API_KEY: API_KEY, OPENAI_BASE_URL: fake.baseURL, ...env })).engine.speaker;
}

/** What the packets say: decoded by libopus to 16 kHz, heard by pocketsphinx. */
async function hear(packets: readonly Buffer[]): Promise<string> {
  const decoder = new opus.OpusEncoder(16_000, 1);
  const pcm = Buffer.concat(packets.map((packet) => decoder.decode(packet)));
  return transcribeWithPocketsphinx(new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2), 16_000, new AbortController().signal);
}

const words = (text: string): string[] => text.toLowerCase().match(/[a-z]+/g) ?? [];
const overlap = (expected: string, heard: string) => words(expected).filter((word) => words(heard).includes(word)).length / words(expected).length;

beforeAll(async () => {
  fake = await startFakeOpenAI({ apiKey: API_KEY });
});
afterAll(async () => {
  await fake?.close();
});
beforeEach(() => {
  fake.reset();
  fake.configure({ speechFormats: undefined, speechSampleRate: undefined, speechChunkBytes: 2048 });
});

describe('OpenAISpeaker', () => {
  const reference: Record<string, number> = {};

  it.each(['opus', 'pcm', 'wav', 'mp3'] as const)('TTS_FORMAT=%s: 20 ms Opus packets, the first long before the response ends', async (format) => {
    fake.setBehaviour('speech', { chunkGapMs: 25 });
    const packets: Buffer[] = [];
    let firstPacketAt = 0;
    for await (const packet of speakerFor({ TTS_FORMAT: format }).speak(SENTENCE, new AbortController().signal)) {
      firstPacketAt ||= performance.now();
      packets.push(packet);
    }
    const [request] = fake.requestsTo('speech');
    expect((request!.json as { response_format: string }).response_format).toBe(format);
    expect(request!.chunksSent).toBeGreaterThan(4);
    const seconds = packets.length * 0.02;
    reference[format] = seconds;
    const heard = await hear(packets);
    const beforeEndMs = request!.lastByteAt! - firstPacketAt;
    console.log(`${format}: ${packets.length} packets (${seconds.toFixed(2)} s) from ${request!.chunksSent} chunks; first packet ${beforeEndMs.toFixed(0)} ms before the last byte; heard "${heard}"`);
    expect(packets.every((packet) => opusPacketDurationMs(packet) === 20)).toBe(true);
    expect(beforeEndMs, 'played while the response is still arriving').toBeGreaterThan(50);
    expect(overlap(SENTENCE, heard)).toBeGreaterThanOrEqual(0.6);
    // Same speech whatever the format: as long as the Ogg-Opus (MP3 adds its encoder padding).
    if (reference.opus) expect(Math.abs(seconds - reference.opus)).toBeLessThan(format === 'mp3' ? 0.12 : 0.06);
  }, 30_000);

  it('resamples WAV of another rate (22 050 Hz) to 48 kHz without changing its length', async () => {
    fake.configure({ speechSampleRate: 22_050 });
    const packets: Buffer[] = [];
    for await (const packet of speakerFor({ TTS_FORMAT: 'wav' }).speak(SENTENCE, new AbortController().signal)) packets.push(packet);
    const heard = await hear(packets);
    const expectedSeconds = reference.pcm ?? packets.length * 0.02;
    console.log(`22050 Hz WAV: ${packets.length} packets; heard "${heard}"`);
    expect(Math.abs(packets.length * 0.02 - expectedSeconds)).toBeLessThan(0.06);
    expect(overlap(SENTENCE, heard)).toBeGreaterThanOrEqual(0.6);
  }, 30_000);

  it('a server that refuses the format gets a plain error naming TTS_FORMAT', async () => {
    fake.configure({ speechFormats: ['opus'] });
    const error = await (async () => {
      for await (const _packet of speakerFor({ TTS_FORMAT: 'mp3' }).speak(SENTENCE, new AbortController().signal));
    })().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ kind: 'bad_request' });
    expect((error as EngineError).userMessage).toMatch(/refused TTS_FORMAT=mp3 \(400: Invalid value: 'mp3'\. Supported values are: 'opus'\.\)\. Set TTS_FORMAT to a format it serves/);
    expect(fake.requestsTo('speech')).toHaveLength(1); // a 400 is not retried
  });

  it('bytes that are not the format asked for are a plain error too', async () => {
    // Asked for WAV, the server sends Ogg-Opus under a generic type.
    fake.configure({ speechFormats: ['opus', 'wav'] });
    const { speechToOpus, SpeechFormatError } = await import('../../server/media/speech-transcoder.js');
    const ogg = (await import('../fake-openai/media.js')).synthesizeOggOpus;
    const bytes = await ogg('Hello there.');
    const consume = async (format: 'wav' | 'mp3' | 'opus', input: Buffer) => {
      for await (const _packet of speechToOpus((async function* () { yield input; })(), format));
    };
    await expect(consume('wav', bytes)).rejects.toBeInstanceOf(SpeechFormatError);
    await expect(consume('mp3', bytes)).rejects.toBeInstanceOf(SpeechFormatError);
    await expect(consume('opus', Buffer.from('RIFF....WAVEfmt '))).rejects.toBeInstanceOf(SpeechFormatError);
  });
});
