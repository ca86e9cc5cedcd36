/** Endpointing: pure logic on probabilities, and the real Silero VAD on recorded speech with known boundaries. */
import { beforeAll, describe, expect, it } from 'vitest';
import { Endpointer, type EndpointEvent } from '../../server/conversation/endpointer.js';
import { SileroVadModel, VAD_WINDOW_MS, VAD_WINDOW_SAMPLES } from '../../server/media/silero-vad.js';
import { labelledSpeech, mixUnder, opusRoundTrip, PCM_RATE, steadyNoise } from '../../scripts/lib/speech-pcm.js';

const SETTINGS = { threshold: 0.5, startSpeechMs: 160, endSilenceMs: 640 };

function events(probs: number[], settings = SETTINGS): Array<EndpointEvent & { atMs: number }> {
  const endpointer = new Endpointer(settings, VAD_WINDOW_MS);
  const out: Array<EndpointEvent & { atMs: number }> = [];
  probs.forEach((p, i) => {
    const { event } = endpointer.push(p);
    if (event) out.push({ ...event, atMs: (i + 1) * VAD_WINDOW_MS });
  });
  return out;
}

describe('Endpointer', () => {
  it('starts after startSpeechMs of speech, reports where it began, ends after endSilenceMs of silence', () => {
    const probs = [...Array(10).fill(0.01), ...Array(30).fill(0.9), ...Array(30).fill(0.02)];
    const got = events(probs);
    expect(got.map((e) => e.type)).toEqual(['speechStart', 'speechEnd']);
    expect(got[0]!.atMs - (got[0] as { speechMs: number }).speechMs).toBe(10 * VAD_WINDOW_MS); // where speech began
    expect(got[0]!.atMs).toBe(10 * VAD_WINDOW_MS + 160);
    const end = got[1] as EndpointEvent & { type: 'speechEnd'; atMs: number };
    expect(end.atMs - end.silenceMs).toBe(40 * VAD_WINDOW_MS); // where speech stopped
    expect(end.speechMs).toBe(30 * VAD_WINDOW_MS);
  });

  it('ignores a burst shorter than startSpeechMs, and a pause shorter than endSilenceMs', () => {
    expect(events([...Array(4).fill(0.9), ...Array(20).fill(0)])).toEqual([]);
    const got = events([...Array(20).fill(0.9), ...Array(15).fill(0.1), ...Array(20).fill(0.9), ...Array(25).fill(0)]);
    expect(got.map((e) => e.type)).toEqual(['speechStart', 'speechEnd']);
  });

  it('keeps speech going between the two thresholds (hysteresis)', () => {
    const got = events([...Array(10).fill(0.9), ...Array(40).fill(0.4), ...Array(25).fill(0)]);
    expect(got.map((e) => e.type)).toEqual(['speechStart', 'speechEnd']);
    expect(got[1]!.atMs).toBe((50 + 20) * VAD_WINDOW_MS);
  });
});

describe('Endpointer on recorded speech with known boundaries (Silero VAD, Opus round trip)', () => {
  let model: SileroVadModel;
  beforeAll(async () => {
    model = await SileroVadModel.load();
  });

  async function probabilities(pcm: Int16Array): Promise<number[]> {
    const out: number[] = [];
    const stream = model.openStream((p) => out.push(p));
    stream.push(pcm);
    while (out.length < Math.floor(pcm.length / VAD_WINDOW_SAMPLES)) await new Promise((resolve) => setTimeout(resolve, 2));
    return out;
  }

  for (const noisy of [false, true]) {
    it(`one turn per question, started and ended near the true boundaries${noisy ? ', under pink noise' : ''}`, async () => {
      const noise = await steadyNoise('pinknoise', 8, -40);
      for (const text of ['what am I holding in my hand', 'can you read the text on my screen, and tell me what it says']) {
        const speech = await labelledSpeech(text, 1.5);
        const pcm = opusRoundTrip(noisy ? mixUnder(speech.pcm, noise) : speech.pcm);
        const got = events(await probabilities(pcm));
        expect(got.map((e) => e.type), text).toEqual(['speechStart', 'speechEnd']);
        const startMs = (speech.speechStart * 1000) / PCM_RATE;
        const endMs = (speech.speechEnd * 1000) / PCM_RATE;
        const start = got[0] as EndpointEvent & { type: 'speechStart'; atMs: number };
        const end = got[1] as EndpointEvent & { type: 'speechEnd'; atMs: number };
        expect(Math.abs(start.atMs - start.speechMs - startMs), 'detected onset vs true onset').toBeLessThan(100);
        expect(start.atMs - startMs).toBeLessThan(SETTINGS.startSpeechMs + 100);
        expect(Math.abs(end.atMs - end.silenceMs - endMs), 'detected end of speech vs true end').toBeLessThan(150);
        expect(end.atMs - endMs).toBeGreaterThanOrEqual(SETTINGS.endSilenceMs - 50);
        expect(end.atMs - endMs).toBeLessThan(SETTINGS.endSilenceMs + 150);
      }
    });
  }

  it('a 550 ms hesitation does not end the turn at the default; 256 ms of silence would', async () => {
    const [a, b] = await Promise.all(['what is this thing', 'on my desk'].map((t) => labelledSpeech(t, 0)));
    const pause = new Int16Array(Math.round(0.55 * PCM_RATE));
    const pad = new Int16Array(PCM_RATE);
    const parts = [pad, a!.pcm.subarray(a!.speechStart, a!.speechEnd), pause, b!.pcm.subarray(b!.speechStart, b!.speechEnd), pad, pad];
    const pcm = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (pcm.set(p, at), at + p.length), 0);
    const probs = await probabilities(opusRoundTrip(pcm));
    expect(events(probs).map((e) => e.type)).toEqual(['speechStart', 'speechEnd']);
    expect(events(probs, { ...SETTINGS, endSilenceMs: 256 }).filter((e) => e.type === 'speechEnd').length).toBe(2);
  });

  it('steady noise and silence start no turn', async () => {
    for (const kind of ['whitenoise', 'pinknoise', 'brownnoise'] as const) {
      expect(events(await probabilities(opusRoundTrip(await steadyNoise(kind, 5, -25)))), kind).toEqual([]);
    }
    expect(events(await probabilities(new Int16Array(5 * PCM_RATE)))).toEqual([]);
  });
});
