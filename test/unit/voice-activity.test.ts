import { readWavPcm } from '../../scripts/lib/encoded-media.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectSpeech, trimToSpeech } from '../../server/media/voice-activity.js';

const RATE = 16_000;
let dir: string;
let speech: Int16Array; // flite, 16 kHz
let span: { first: number; last: number };

/** Where the source is audibly non-silent, from 10 ms peaks (flite's pauses are near-digital silence). */
function measureSpan(pcm: Int16Array): { first: number; last: number } {
  let first = -1;
  let last = -1;
  for (let start = 0; start + 160 <= pcm.length; start += 160) {
    let peak = 0;
    for (let i = start; i < start + 160; i++) peak = Math.max(peak, Math.abs(pcm[i]));
    if (peak > 500) {
      if (first < 0) first = start;
      last = start + 159;
    }
  }
  return { first, last };
}

function noise(samples: number, amplitude: number, seed = 1): Int16Array {
  const out = new Int16Array(samples);
  let state = seed;
  for (let i = 0; i < samples; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    out[i] = Math.round(((state / 2 ** 32) * 2 - 1) * amplitude);
  }
  return out;
}

/** Adds a mains hum (100 Hz + harmonics) and hiss to `pcm`, clipped to 16 bits. */
function withHum(pcm: Int16Array, humAmplitude: number): Int16Array {
  const hiss = noise(pcm.length, humAmplitude / 4, 5);
  return pcm.map((sample, i) => {
    const t = i / RATE;
    const hum = humAmplitude * (Math.sin(2 * Math.PI * 100 * t) + 0.5 * Math.sin(2 * Math.PI * 200 * t));
    return Math.max(-32768, Math.min(32767, Math.round(sample + hum + hiss[i])));
  });
}

function padded(pcm: Int16Array, beforeSamples: number, afterSamples: number): Int16Array {
  const out = new Int16Array(beforeSamples + pcm.length + afterSamples);
  out.set(pcm, beforeSamples);
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vad-'));
  const path = join(dir, 'speech.wav');
  execFileSync('flite', ['-voice', 'slt', '-t', 'what colour is the cup I am holding up to the camera', '-o', path]);
  speech = readWavPcm(readFileSync(path)).pcm;
  span = measureSpan(speech);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('detectSpeech', () => {
  it('finds the speech inside a steady, loud hum', () => {
    const before = RATE; // 1 s
    const pcm = withHum(padded(speech, before, RATE), 1500); // hum ≈ -25 dBFS
    const activity = detectSpeech(pcm, RATE);
    const sourceMs = ((span.last - span.first) / RATE) * 1000;
    expect(activity.speechMs).toBeGreaterThan(sourceMs * 0.6);
    expect(activity.speechMs).toBeLessThanOrEqual(sourceMs + 200);
    expect(Math.abs(activity.firstSpeechSample - (before + span.first))).toBeLessThan(0.15 * RATE);
    expect(Math.abs(activity.lastSpeechSample - (before + span.last))).toBeLessThan(0.15 * RATE);
  });

  it('hears no speech in hum and hiss alone, however loud', () => {
    for (const amplitude of [50, 1500, 8000]) {
      const activity = detectSpeech(withHum(new Int16Array(RATE * 3), amplitude), RATE);
      expect(activity).toEqual({ speechMs: 0, firstSpeechSample: -1, lastSpeechSample: -1 });
    }
  });

  it('ignores clicks shorter than 80 ms, counts a 150 ms burst', () => {
    const pcm = noise(RATE * 3, 30);
    for (let at = 8000; at + 800 < RATE * 2; at += 6400) {
      for (let i = 0; i < 800; i++) pcm[at + i] = noise(1, 12_000, at + i)[0]; // 50 ms bursts every 400 ms
    }
    expect(detectSpeech(pcm, RATE).speechMs).toBe(0);

    const burstAt = RATE * 2 + 4000;
    pcm.set(noise(2400, 12_000, 9), burstAt); // 150 ms
    const activity = detectSpeech(pcm, RATE);
    expect(activity.speechMs).toBeGreaterThanOrEqual(140);
    expect(activity.speechMs).toBeLessThanOrEqual(160);
    expect(activity.firstSpeechSample).toBe(burstAt);
  });

  it('treats digital silence (DTX gaps) as neither speech nor noise floor', () => {
    const pcm = padded(speech, RATE * 2, RATE * 2); // mostly exact zeros
    const activity = detectSpeech(pcm, RATE);
    expect(activity.speechMs).toBeGreaterThan(((span.last - span.first) / RATE) * 1000 * 0.6);
    expect(Math.abs(activity.firstSpeechSample - (RATE * 2 + span.first))).toBeLessThan(0.15 * RATE);
  });
});

describe('trimToSpeech', () => {
  it('keeps the speech plus the padding and drops the rest', () => {
    const before = RATE * 2;
    const pcm = withHum(padded(speech, before, RATE * 2), 300);
    const trimmed = trimToSpeech(pcm, RATE, 200);
    const expectedSamples = span.last - span.first + 2 * 0.2 * RATE;
    expect(Math.abs(trimmed.pcm.length - expectedSamples)).toBeLessThan(0.25 * RATE);
    expect(trimmed.speechMs).toBe(detectSpeech(pcm, RATE).speechMs);
  });

  it('returns the input unchanged when there is no speech', () => {
    const pcm = noise(RATE, 100);
    const trimmed = trimToSpeech(pcm, RATE);
    expect(trimmed.speechMs).toBe(0);
    expect(trimmed.pcm).toBe(pcm);
  });
});
