import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../server/assistant/engine.js';
import { offlineSpeak, offlineVoiceBackend, type OfflineVoiceBackend } from '../../server/assistant/offline/speaker.js';
import { transcribeWithPocketsphinx } from '../../server/assistant/offline/transcriber.js';

const SENTENCE = 'The quick brown fox jumps over the lazy dog near the river bank today';

interface Spoken {
  ogg: Buffer;
  chunks: number;
  firstChunkMs: number;
  doneMs: number;
}

async function speak(sentence: string, backend: OfflineVoiceBackend, signal = new AbortController().signal): Promise<Spoken> {
  const started = performance.now();
  const chunks: Buffer[] = [];
  let firstChunkMs = -1;
  for await (const chunk of offlineSpeak(sentence, signal, { backend })) {
    if (firstChunkMs < 0) firstChunkMs = performance.now() - started;
    chunks.push(chunk);
  }
  return { ogg: Buffer.concat(chunks), chunks: chunks.length, firstChunkMs, doneMs: performance.now() - started };
}

interface Probe {
  codec: string;
  sampleRate: number;
  channels: number;
  packetDurations: number[];
}

function probe(ogg: Buffer): Probe {
  const json = execFileSync(
    'ffprobe',
    ['-v', 'error', '-show_streams', '-show_packets', '-show_entries', 'packet=duration_time:stream=codec_name,sample_rate,channels', '-of', 'json', '-i', 'pipe:0'],
    { input: ogg },
  ).toString();
  const parsed = JSON.parse(json) as {
    streams: Array<{ codec_name: string; sample_rate: string; channels: number }>;
    packets: Array<{ duration_time: string }>;
  };
  const stream = parsed.streams[0]!;
  return {
    codec: stream.codec_name,
    sampleRate: Number(stream.sample_rate),
    channels: stream.channels,
    packetDurations: parsed.packets.map((packet) => Number(packet.duration_time)),
  };
}

/** Decodes Ogg-Opus fully with ffmpeg (so it must be valid) to 16 kHz mono PCM. */
function decodeTo16k(ogg: Buffer): Int16Array {
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-f', 'ogg', '-i', 'pipe:0', '-f', 's16le', '-ac', '1', '-ar', '16000', 'pipe:1'], { input: ogg });
  return new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
}

function expectPlausibleOggOpus(ogg: Buffer, sentence: string): number {
  expect(ogg.subarray(0, 4).toString('latin1')).toBe('OggS');
  expect(ogg.includes(Buffer.from('OpusHead'))).toBe(true);
  const info = probe(ogg);
  expect(info).toMatchObject({ codec: 'opus', sampleRate: 48000, channels: 1 });
  expect(info.packetDurations.length).toBeGreaterThan(10);
  // Every packet is one 20 ms frame; only the last is shortened, by the end trim in its granule position.
  for (const duration of info.packetDurations.slice(0, -1)) expect(duration).toBeCloseTo(0.02, 5);
  const seconds = decodeTo16k(ogg).length / 16_000;
  const words = sentence.split(/\s+/).length;
  expect(seconds).toBeGreaterThan(words * 0.15);
  expect(seconds).toBeLessThan(words * 0.8 + 1);
  return seconds;
}

function wordsFound(reference: string, hypothesis: string): number {
  const heard = new Set(hypothesis.toLowerCase().split(/\s+/));
  const words = reference.toLowerCase().split(/\s+/);
  return words.filter((word) => heard.has(word)).length / words.length;
}

describe('offlineSpeak', () => {
  it('prefers flite when it is installed', () => {
    expect(offlineVoiceBackend()).toBe('flite');
  });

  it('streams valid 20 ms Ogg-Opus from flite, the first chunk well before the end', async () => {
    const spoken = await speak(SENTENCE, 'flite');
    const seconds = expectPlausibleOggOpus(spoken.ogg, SENTENCE);
    console.log(
      `flite: ${seconds.toFixed(2)} s of speech; first Ogg chunk after ${spoken.firstChunkMs.toFixed(0)} ms, ` +
        `all ${spoken.chunks} chunks after ${spoken.doneMs.toFixed(0)} ms`,
    );
    expect(spoken.chunks).toBeGreaterThan(10);
    expect(spoken.firstChunkMs).toBeLessThan(spoken.doneMs - 50);
  });

  it('says the words: flite speech decoded back to 16 kHz is understood by pocketsphinx', async () => {
    const spoken = await speak(SENTENCE, 'flite');
    const text = await transcribeWithPocketsphinx(decodeTo16k(spoken.ogg), 16_000, new AbortController().signal);
    expect(wordsFound(SENTENCE, text)).toBeGreaterThanOrEqual(0.7);
  });

  it('speaks with the espeak-ng WebAssembly build, which needs no binary', async () => {
    const sentence = 'This voice runs inside Node with no program installed.';
    const spoken = await speak(sentence, 'espeak-ng-wasm');
    const seconds = expectPlausibleOggOpus(spoken.ogg, sentence);
    console.log(`espeak-ng-wasm: ${seconds.toFixed(2)} s of speech; first Ogg chunk after ${spoken.firstChunkMs.toFixed(0)} ms`);
  });

  it('speaks with the native espeak-ng', async () => {
    const sentence = '-5 degrees is cold, said the espeak voice.'; // a leading "-" must not become an option
    expectPlausibleOggOpus((await speak(sentence, 'espeak-ng')).ogg, sentence);
  });

  it('yields nothing for a sentence with nothing to say', async () => {
    expect((await speak('  ... ', 'flite')).ogg.length).toBe(0);
  });

  it('stops promptly when aborted after the first chunk', async () => {
    for (const backend of ['flite', 'espeak-ng-wasm'] as const) {
      const controller = new AbortController();
      const stream = offlineSpeak(`${SENTENCE}. ${SENTENCE}.`, controller.signal, { backend });
      const iterator = stream[Symbol.asyncIterator]();
      expect((await iterator.next()).done).toBe(false);
      controller.abort();
      const started = performance.now();
      await expect(iterator.next()).rejects.toMatchObject({ name: 'AbortError' });
      expect(performance.now() - started).toBeLessThan(200);
    }
  });

  it('says plainly when a forced voice is not installed', async () => {
    const savedPath = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(speak('Hello there.', 'espeak-ng')).rejects.toSatisfy(
        (error) => error instanceof EngineError && error.kind === 'unavailable' && /espeak-ng/.test(error.userMessage),
      );
    } finally {
      process.env.PATH = savedPath;
    }
  });
});
