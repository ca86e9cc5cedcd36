/**
 * Real media work for the fake OpenAI server: speech recognition with pocketsphinx, speech
 * synthesis with flite → ffmpeg libopus (Ogg-Opus), and a plain description of a JPEG with sharp.
 * Everything runs the real tools, so tests that use the fake check real words and real bytes.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { ffmpegPath } from '../../server/media/ffmpeg.js';

const run = promisify(execFile);

async function withTempDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fake-openai-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Words pocketsphinx hears in an audio file of any format ffmpeg reads (it is converted to the
 * 16 kHz mono 16-bit WAV the en-us model wants). '' when nothing was recognised.
 */
export async function recogniseSpeech(audio: Buffer): Promise<string> {
  return withTempDir(async (dir) => {
    const received = path.join(dir, 'received.bin');
    const wav16k = path.join(dir, 'speech16k.wav');
    await writeFile(received, audio);
    await run(ffmpegPath(), ['-v', 'error', '-y', '-i', received, '-ar', '16000', '-ac', '1', '-c:a', 'pcm_s16le', wav16k]);
    const { stdout } = await run('pocketsphinx_continuous', ['-infile', wav16k, '-logfn', '/dev/null'], {
      maxBuffer: 1 << 20,
    });
    return stdout
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .join(' ');
  });
}

/** Runs ffmpeg with `input` on stdin and resolves with all of stdout. */
function ffmpegPipe(args: string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(ffmpegPath(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let errText = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (errText += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`ffmpeg exited ${code}: ${errText.trim()}`)),
    );
    child.stdin.end(input);
  });
}

const speechCache = new Map<string, Buffer>();

/**
 * `text` spoken by flite's `slt` voice, encoded by ffmpeg's libopus at 48 kHz into an Ogg-Opus
 * stream exactly as ffmpeg's Ogg muxer writes it (its pages are not re-framed).
 */
export async function synthesizeOggOpus(text: string): Promise<Buffer> {
  const cached = speechCache.get(text);
  if (cached) return cached;
  const ogg = await withTempDir(async (dir) => {
    const wav = path.join(dir, 'speech.wav');
    await run('flite', ['-voice', 'slt', '-t', text, '-o', wav]);
    return ffmpegPipe(
      ['-v', 'error', '-i', 'pipe:0', '-ar', '48000', '-ac', '1', '-c:a', 'libopus', '-b:a', '32k', '-f', 'ogg', 'pipe:1'],
      await readFile(wav),
    );
  });
  if (speechCache.size > 64) speechCache.clear();
  speechCache.set(text, ogg);
  return ogg;
}

export type FakeSpeechFormat = 'opus' | 'wav' | 'pcm' | 'mp3';

/** `text` spoken by flite, as 16-bit mono PCM at `sampleRate` (ffmpeg's soxr-free default resampler). */
async function spokenPcm(text: string, sampleRate: number): Promise<Buffer> {
  return withTempDir(async (dir) => {
    const wav = path.join(dir, 'speech.wav');
    await run('flite', ['-voice', 'slt', '-t', text, '-o', wav]);
    return ffmpegPipe(['-v', 'error', '-i', 'pipe:0', '-ar', String(sampleRate), '-ac', '1', '-f', 's16le', 'pipe:1'], await readFile(wav));
  });
}

/**
 * A streamed WAV as OpenAI's `/audio/speech` sends one: the canonical 44-byte header with both
 * sizes 0xFFFFFFFF (the length is unknown when the header goes out), then the samples.
 */
function streamingWav(pcm: Buffer, sampleRate: number): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(0xffffffff, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(0xffffffff, 40);
  return Buffer.concat([header, pcm]);
}

const formatCache = new Map<string, Buffer>();

/**
 * `text` spoken by flite in one of the `/audio/speech` formats: `opus` (Ogg-Opus, 48 kHz), `pcm`
 * (raw 24 kHz s16le mono, as OpenAI's), `wav` (that PCM with a streaming header; another rate on
 * request) or `mp3` (ffmpeg libmp3lame, 64 kbps).
 */
export async function synthesizeSpeech(text: string, format: FakeSpeechFormat, sampleRate = 24_000): Promise<Buffer> {
  if (format === 'opus') return synthesizeOggOpus(text);
  const rate = format === 'pcm' ? 24_000 : sampleRate;
  const key = `${format}:${rate}:${text}`;
  const cached = formatCache.get(key);
  if (cached) return cached;
  const pcm = await spokenPcm(text, rate);
  const audio =
    format === 'pcm' ? pcm
    : format === 'wav' ? streamingWav(pcm, rate)
    : await ffmpegPipe(['-v', 'error', '-f', 's16le', '-ar', String(rate), '-ac', '1', '-i', 'pipe:0', '-c:a', 'libmp3lame', '-b:a', '64k', '-f', 'mp3', 'pipe:1'], pcm);
  if (formatCache.size > 64) formatCache.clear();
  formatCache.set(key, audio);
  return audio;
}

const PALETTE: ReadonlyArray<readonly [string, number, number, number]> = [
  ['black', 0, 0, 0],
  ['white', 255, 255, 255],
  ['grey', 128, 128, 128],
  ['red', 220, 30, 30],
  ['green', 30, 180, 30],
  ['blue', 30, 30, 220],
  ['yellow', 230, 220, 30],
  ['orange', 240, 140, 20],
  ['purple', 130, 40, 160],
  ['cyan', 30, 200, 220],
  ['pink', 240, 150, 190],
  ['brown', 120, 70, 30],
];

export interface ImageSummary {
  width: number;
  height: number;
  meanRgb: [number, number, number];
  /** The palette name nearest to the mean colour. */
  colourName: string;
}

export async function summariseImage(image: Buffer): Promise<ImageSummary> {
  const picture = sharp(image);
  const [{ width = 0, height = 0 }, stats] = await Promise.all([picture.metadata(), picture.stats()]);
  const mean = (i: number) => Math.round(stats.channels[Math.min(i, stats.channels.length - 1)]?.mean ?? 0);
  const meanRgb: [number, number, number] = [mean(0), mean(1), mean(2)];
  let colourName = 'grey';
  let best = Infinity;
  for (const [name, r, g, b] of PALETTE) {
    const distance = (meanRgb[0] - r) ** 2 + (meanRgb[1] - g) ** 2 + (meanRgb[2] - b) ** 2;
    if (distance < best) [best, colourName] = [distance, name];
  }
  return { width, height, meanRgb, colourName };
}
