/**
 * OCR for the e2e rig: Debian `tesseract-ocr` (+ `tesseract-ocr-eng`) reads an image, and a
 * score says how many of a text's words it got back.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function assertTesseractPresent(): Promise<void> {
  try {
    const { stdout, stderr } = await run('tesseract', ['--list-langs']);
    if (!/^eng$/m.test(stdout + stderr)) throw new Error('no "eng" language');
  } catch (error) {
    throw new Error(`OCR needs tesseract with English (Debian "tesseract-ocr" and "tesseract-ocr-eng"): ${(error as Error).message}`);
  }
}

/** The text tesseract reads in an image (JPEG or PNG bytes); page segmentation 6 = one block. */
export async function ocrImage(image: Buffer): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'e2e-ocr-'));
  try {
    const file = path.join(dir, 'still');
    await writeFile(file, image);
    const { stdout } = await run('tesseract', [file, 'stdout', '-l', 'eng', '--psm', '6'], { maxBuffer: 4 * 1024 * 1024 });
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Identifier-like words (letters, digits, underscore; 2 characters or more). */
export function wordsOf(text: string): string[] {
  return text.match(/[A-Za-z0-9_]{2,}/g) ?? [];
}

/** Share of `expected`'s words found in `read`, each found word used once (0..1). */
export function wordScore(expected: string, read: string): number {
  const wanted = wordsOf(expected);
  const available = new Map<string, number>();
  for (const word of wordsOf(read)) available.set(word, (available.get(word) ?? 0) + 1);
  let found = 0;
  for (const word of wanted) {
    const left = available.get(word) ?? 0;
    if (left > 0) {
      found++;
      available.set(word, left - 1);
    }
  }
  return wanted.length === 0 ? 1 : found / wanted.length;
}
