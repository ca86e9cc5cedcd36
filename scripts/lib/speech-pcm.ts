/**
 * Recorded test audio with known speech boundaries, as 16 kHz mono PCM in memory: flite speech
 * (voice slt) padded with silence, steady noise from sox, and Opus round trips like a call's.
 * Used by the endpointing measurement (scripts/measure-endpointing.ts) and the VAD tests.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import opus from '@discordjs/opus';

const run = promisify(execFile);
export const PCM_RATE = 16_000;

export interface LabelledSpeech {
  text: string;
  pcm: Int16Array;
  /** First and last+1 sample of the speech (flite's own leading/trailing silence excluded). */
  speechStart: number;
  speechEnd: number;
  /** Longest silence inside the speech (between words, at commas), ms. */
  longestPauseMs: number;
}

function toInt16(bytes: Buffer): Int16Array {
  return new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

async function withTempDir<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'speech-pcm-'));
  try {
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A sox input (a file, or `-n` with a synth effect) as 16 kHz mono PCM. */
async function soxToPcm(dir: string, args: string[]): Promise<Int16Array> {
  const out = path.join(dir, `out-${Math.random().toString(36).slice(2)}.raw`);
  await run('sox', ['-R', ...args.slice(0, 1), '-r', String(PCM_RATE), '-c', '1', '-b', '16', '-e', 'signed-integer', out, ...args.slice(1)]);
  return toInt16(await readFile(out));
}

/** 10 ms frames louder than -50 dBFS are speech; flite's output is clean, so this is exact enough. */
function voicedFrames(pcm: Int16Array): boolean[] {
  const frame = PCM_RATE / 100;
  const voiced: boolean[] = [];
  for (let at = 0; at + frame <= pcm.length; at += frame) {
    let sum = 0;
    for (let i = at; i < at + frame; i++) sum += pcm[i]! * pcm[i]!;
    voiced.push(10 * Math.log10(sum / frame / 32768 ** 2 + 1e-12) > -50);
  }
  return voiced;
}

/** flite speech, with `padSeconds` of digital silence before and after. */
export async function labelledSpeech(text: string, padSeconds: number): Promise<LabelledSpeech> {
  return withTempDir(async (dir) => {
    const wav = path.join(dir, 'flite.wav');
    await run('flite', ['-voice', 'slt', '-t', text, '-o', wav]);
    const raw = await soxToPcm(dir, [wav]);
    const voiced = voicedFrames(raw);
    const first = voiced.indexOf(true);
    const last = voiced.lastIndexOf(true);
    let longestPause = 0;
    let run_ = 0;
    for (let f = first; f <= last; f++) {
      run_ = voiced[f] ? 0 : run_ + 1;
      longestPause = Math.max(longestPause, run_);
    }
    const pad = Math.round(padSeconds * PCM_RATE);
    const frame = PCM_RATE / 100;
    const pcm = new Int16Array(raw.length + 2 * pad);
    pcm.set(raw, pad);
    return { text, pcm, speechStart: pad + first * frame, speechEnd: pad + (last + 1) * frame, longestPauseMs: longestPause * 10 };
  });
}

/** Steady noise from sox's synth (`whitenoise`, `pinknoise`, `brownnoise`) at about `dbfs` RMS. */
export async function steadyNoise(kind: 'whitenoise' | 'pinknoise' | 'brownnoise', seconds: number, dbfs: number): Promise<Int16Array> {
  return withTempDir((dir) => soxToPcm(dir, ['-n', 'synth', String(seconds), kind, 'norm', String(dbfs + 3)]));
}

/** `noise` mixed under `pcm` (looped), sample by sample with clipping. */
export function mixUnder(pcm: Int16Array, noise: Int16Array): Int16Array {
  const mixed = new Int16Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) mixed[i] = Math.max(-32768, Math.min(32767, pcm[i]! + noise[i % noise.length]!));
  return mixed;
}

/** Through Opus and back in 20 ms frames at `bitrate`, as the browser's mic reaches the server. */
export function opusRoundTrip(pcm: Int16Array, bitrate = 32_000): Int16Array {
  const codec = new opus.OpusEncoder(PCM_RATE, 1);
  codec.setBitrate(bitrate);
  const frame = PCM_RATE / 50;
  const out = new Int16Array(Math.floor(pcm.length / frame) * frame);
  for (let at = 0; at + frame <= pcm.length; at += frame) {
    const chunk = Buffer.from(pcm.buffer, pcm.byteOffset + at * 2, frame * 2);
    out.set(toInt16(codec.decode(codec.encode(chunk))), at);
  }
  return out;
}
