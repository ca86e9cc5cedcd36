/** What the fake's two kinds of Realtime session (transcription, conversation) share. */
import { randomBytes } from 'node:crypto';

/** Realtime PCM16: 24 kHz mono. */
export const SAMPLE_RATE = 24_000;
export const MIN_COMMIT_MS = 100;
/** A fixed transcript goes only to commits with sound in them. */
export const SOUND_DBFS = -45;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
export const eventId = () => `event_${randomBytes(9).toString('base64url')}`;
export const itemId = () => `item_${randomBytes(9).toString('base64url')}`;

/** Loudness of the loudest 20 ms of `pcm`, dBFS. */
export function loudnessDbfs(pcm: Int16Array): number {
  let peakMeanSquare = 0;
  for (let start = 0; start + 480 <= pcm.length; start += 480) {
    let sum = 0;
    for (let i = start; i < start + 480; i++) sum += pcm[i]! * pcm[i]!;
    peakMeanSquare = Math.max(peakMeanSquare, sum / 480);
  }
  return 10 * Math.log10(peakMeanSquare / (32768 * 32768) + 1e-12);
}

export function concatPcm(parts: readonly Int16Array[]): Int16Array {
  const pcm = new Int16Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    pcm.set(part, at);
    at += part.length;
  }
  return pcm;
}
