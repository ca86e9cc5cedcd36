/**
 * Test media for the end-to-end rig: speech a recogniser understands (flite's `slt` voice) as a
 * WAV that Chromium's fake microphone loops, and solid-colour Y4M clips for its fake camera.
 *
 * Runnable: `npx tsx scripts/make-test-media.ts [outDir]` (default test/.media/), and importable.
 * Each output is cached by content: a sidecar `<file>.key` records what it was made from, and a
 * file whose key matches is not made again.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const DEFAULT_MEDIA_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'test', '.media');

export interface SpeechOptions {
  /** Silence before and after the speech, seconds (default 1). The fake mic loops the file. */
  padSeconds?: number;
}

export interface SolidVideoOptions {
  width?: number;
  height?: number;
  seconds?: number;
  fps?: number;
}

async function requireTool(tool: string, debianPackage: string): Promise<void> {
  try {
    await run('sh', ['-c', `command -v ${tool}`]);
  } catch {
    throw new Error(`${tool} is missing: install the Debian package "${debianPackage}" (apt-get install ${debianPackage})`);
  }
}

async function fileExists(file: string): Promise<boolean> {
  try {
    return (await stat(file)).size > 0;
  } catch {
    return false;
  }
}

/** Runs `make(tmpPath)` unless `outPath` already holds media made from the same `recipe`. */
async function cached(outPath: string, recipe: unknown, make: (tmpPath: string) => Promise<void>): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify(recipe)).digest('hex');
  const keyPath = `${outPath}.key`;
  if ((await fileExists(outPath)) && (await readFile(keyPath, 'utf8').catch(() => '')) === key) return outPath;
  await mkdir(path.dirname(outPath), { recursive: true });
  // Write next to the target and rename, so a concurrent reader never sees half a file.
  const tmpPath = `${outPath}.${process.pid}.tmp${path.extname(outPath)}`;
  try {
    await make(tmpPath);
    await rename(tmpPath, outPath);
    await writeFile(keyPath, key);
  } finally {
    await rm(tmpPath, { force: true });
  }
  return outPath;
}

/** Speaks `text` with flite (voice slt) into a 48 kHz mono 16-bit WAV padded with silence. */
export async function makeSpeechWav(text: string, outPath: string, opts: SpeechOptions = {}): Promise<string> {
  const padSeconds = opts.padSeconds ?? 1;
  await requireTool('flite', 'flite');
  await requireTool('sox', 'sox');
  return cached(outPath, { kind: 'speech', text, padSeconds, v: 1 }, async (tmpPath) => {
    const rawSpeech = `${tmpPath}.flite.wav`;
    try {
      await run('flite', ['-voice', 'slt', '-t', text, '-o', rawSpeech]);
      // -R: repeatable output (no dither noise seeded from the clock).
      await run('sox', ['-R', rawSpeech, '-r', '48000', '-c', '1', '-b', '16', '-e', 'signed-integer', tmpPath,
        'pad', String(padSeconds), String(padSeconds)]);
    } finally {
      await rm(rawSpeech, { force: true });
    }
  });
}

export type ConversationPart = { silenceSeconds: number } | { say: string } | { noise: 'whitenoise' | 'pinknoise' | 'brownnoise'; seconds: number; dbfs: number };

/**
 * A fake-mic recording for hands-free tests: silences, flite sentences (voice slt) and steady sox
 * noise one after the other, as a 48 kHz mono 16-bit WAV. Returns where each part starts (s).
 */
export async function makeConversationWav(parts: ConversationPart[], outPath: string): Promise<string> {
  await requireTool('flite', 'flite');
  await requireTool('sox', 'sox');
  return cached(outPath, { kind: 'conversation', parts, v: 1 }, async (tmpPath) => {
    const pieces: string[] = [];
    try {
      for (const [index, part] of parts.entries()) {
        const piece = `${tmpPath}.${index}.wav`;
        const format = ['-r', '48000', '-c', '1', '-b', '16', '-e', 'signed-integer'];
        if ('say' in part) {
          const raw = `${piece}.flite.wav`;
          await run('flite', ['-voice', 'slt', '-t', part.say, '-o', raw]);
          await run('sox', ['-R', raw, ...format, piece]);
          await rm(raw, { force: true });
        } else if ('noise' in part) {
          await run('sox', ['-R', '-n', ...format, piece, 'synth', String(part.seconds), part.noise, 'norm', String(part.dbfs + 3)]);
        } else {
          await run('sox', ['-R', '-n', ...format, piece, 'trim', '0', String(part.silenceSeconds)]);
        }
        pieces.push(piece);
      }
      await run('sox', ['-R', ...pieces, tmpPath]);
    } finally {
      await Promise.all(pieces.map((piece) => rm(piece, { force: true })));
    }
  });
}

/** Length of a WAV file in seconds (sox's `soxi -D`). */
export async function wavDurationSeconds(wavPath: string): Promise<number> {
  await requireTool('soxi', 'sox');
  const { stdout } = await run('soxi', ['-D', wavPath]);
  return Number(stdout.trim());
}

/** A solid-colour clip (ffmpeg lavfi `color`) as Y4M, yuv420p; Chromium's fake camera loops it. */
export async function makeSolidY4m(colour: string, outPath: string, opts: SolidVideoOptions = {}): Promise<string> {
  const width = opts.width ?? 640;
  const height = opts.height ?? 480;
  const seconds = opts.seconds ?? 1;
  const fps = opts.fps ?? 15;
  await requireTool('ffmpeg', 'ffmpeg');
  return cached(outPath, { kind: 'solid', colour, width, height, seconds, fps, v: 1 }, async (tmpPath) => {
    await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi',
      '-i', `color=c=${colour}:s=${width}x${height}:r=${fps}:d=${seconds}`,
      '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', tmpPath]);
  });
}

/** The media the e2e tests use, made into `outDir`. */
export async function makeAllTestMedia(outDir: string = DEFAULT_MEDIA_DIR): Promise<string[]> {
  return Promise.all([
    makeSpeechWav('please tell me what colour you can see', path.join(outDir, 'question-colour.wav'), { padSeconds: 1 }),
    makeSolidY4m('red', path.join(outDir, 'red-640x480.y4m')),
    makeSolidY4m('blue', path.join(outDir, 'blue-640x480.y4m')),
  ]);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = path.resolve(process.argv[2] ?? DEFAULT_MEDIA_DIR);
  makeAllTestMedia(outDir).then(
    (files) => console.log(files.join('\n')),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    },
  );
}
