import { spawnSync } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../../server/assistant/engine.js';
import { transcribeWithPocketsphinx } from '../../server/assistant/offline/transcriber.js';

const QUESTION = 'Please tell me what you can see on the table in front of me';
let workDir: string;
let speechWav: string;

/** flite speech decoded to mono s16le PCM at `rate` (ffmpeg resamples). */
function fliteSpeech(rate: number): Int16Array {
  const raw = execFileSync('ffmpeg', ['-loglevel', 'error', '-i', speechWav, '-f', 's16le', '-ac', '1', '-ar', String(rate), 'pipe:1']);
  return new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
}

/** Share of the reference words the hypothesis got right (1 − word error rate, by edit distance). */
function wordAccuracy(reference: string, hypothesis: string): number {
  const ref = reference.toLowerCase().split(/\s+/).filter(Boolean);
  const hyp = hypothesis.toLowerCase().split(/\s+/).filter(Boolean);
  let row = hyp.map((_, j) => j + 1);
  row.unshift(0);
  for (let i = 1; i <= ref.length; i++) {
    const next = [i];
    for (let j = 1; j <= hyp.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return 1 - row[hyp.length]! / ref.length;
}

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'pocketsphinx-test-'));
  speechWav = join(workDir, 'question.wav');
  execFileSync('flite', ['-voice', 'slt', '-t', QUESTION, '-o', speechWav]);
});
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('transcribeWithPocketsphinx', () => {
  it('recognises at least 70 % of the words of a ~3 s flite question at 16 kHz', async () => {
    const pcm = fliteSpeech(16_000);
    const started = performance.now();
    const text = await transcribeWithPocketsphinx(pcm, 16_000, new AbortController().signal);
    const elapsedMs = performance.now() - started;
    console.log(`pocketsphinx: ${(pcm.length / 16_000).toFixed(2)} s of speech in ${elapsedMs.toFixed(0)} ms → "${text}"`);
    expect(text).toBe(text.toLowerCase());
    expect(wordAccuracy(QUESTION, text)).toBeGreaterThanOrEqual(0.7);
  });

  it('resamples 48 kHz input before recognising it', async () => {
    const text = await transcribeWithPocketsphinx(fliteSpeech(48_000), 48_000, new AbortController().signal);
    expect(wordAccuracy(QUESTION, text)).toBeGreaterThanOrEqual(0.7);
  });

  it("returns '' for silence and for no audio", async () => {
    expect(await transcribeWithPocketsphinx(new Int16Array(16_000), 16_000, new AbortController().signal)).toBe('');
    expect(await transcribeWithPocketsphinx(new Int16Array(0), 16_000, new AbortController().signal)).toBe('');
  });

  it('stops the recogniser when aborted', async () => {
    const controller = new AbortController();
    const pending = transcribeWithPocketsphinx(fliteSpeech(16_000), 16_000, controller.signal);
    setTimeout(() => controller.abort(), 50);
    const started = performance.now();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(performance.now() - started).toBeLessThan(500);
    // The whole pipeline (sh, cat, pocketsphinx) is gone, not just the shell.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const left = spawnSync('pgrep', ['-f', 'pocketsphinx_continuous -infile /dev/stdin'], { encoding: 'utf8' });
    expect(left.stdout.trim()).toBe('');
  });

  it('says how to install pocketsphinx when the binary is missing', async () => {
    const failure = transcribeWithPocketsphinx(fliteSpeech(16_000), 16_000, new AbortController().signal, {
      binary: '/nonexistent/pocketsphinx_continuous',
    });
    await expect(failure).rejects.toBeInstanceOf(EngineError);
    await expect(failure).rejects.toMatchObject({
      kind: 'unavailable',
      userMessage: expect.stringContaining('apt-get install pocketsphinx pocketsphinx-en-us'),
    });
  });
});
