import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../../server/media/wav.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wav-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('encodeWav', () => {
  it('writes a WAV that ffmpeg reads back sample for sample', () => {
    const sampleRate = 16_000;
    const pcm = Int16Array.from({ length: 12_345 }, (_, i) => Math.round(Math.sin(i / 7) * 20_000) + (i % 3) - 1);
    pcm[0] = -32768;
    pcm[1] = 32767;
    // A view at an odd element offset, as the mic recorder's trimmed subarrays are.
    const backing = new Int16Array(pcm.length + 3);
    backing.set(pcm, 3);
    const wav = encodeWav({ pcm: backing.subarray(3), sampleRate, durationMs: (pcm.length / sampleRate) * 1000, speechMs: 0 });

    expect(wav.length).toBe(44 + pcm.length * 2);
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.readUInt32LE(4)).toBe(wav.length - 8);
    expect(wav.readUInt32LE(40)).toBe(pcm.length * 2);

    const path = join(dir, 'out.wav');
    writeFileSync(path, wav);
    const probe = JSON.parse(
      execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', path], { encoding: 'utf8' }),
    ) as { streams: Array<{ codec_name: string; sample_rate: string; channels: number; duration_ts: number }> };
    expect(probe.streams[0]).toMatchObject({ codec_name: 'pcm_s16le', sample_rate: '16000', channels: 1, duration_ts: pcm.length });

    const decoded = execFileSync('ffmpeg', ['-v', 'error', '-i', path, '-f', 's16le', '-']);
    expect(Buffer.compare(decoded, Buffer.from(pcm.buffer))).toBe(0);
  });

  it('writes a valid empty file for an empty segment', () => {
    const wav = encodeWav({ pcm: new Int16Array(0), sampleRate: 24_000, durationMs: 0, speechMs: 0 });
    expect(wav.length).toBe(44);
    expect(wav.readUInt32LE(24)).toBe(24_000);
    expect(wav.readUInt32LE(28)).toBe(48_000);
  });
});
