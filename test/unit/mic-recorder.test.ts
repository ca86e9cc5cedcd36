import { readWavPcm } from '../../scripts/lib/encoded-media.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import opus from '@discordjs/opus';
import { RtpHeader, RtpPacket } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MicRecorder, TRIM_PADDING_MS } from '../../server/media/mic-recorder.js';
import { encodeWav } from '../../server/media/wav.js';

const SENTENCE_A = 'the quick brown fox jumps over the lazy dog near the river bank';
const SENTENCE_B = 'please describe the red box on my desk';
const FRAME_48K = 960; // 20 ms at 48 kHz

let dir: string;
let speechA: Int16Array; // 48 kHz
let speechB: Int16Array;
let spanA: { first: number; last: number }; // speech span in 48 kHz samples, measured on the source
let spanB: { first: number; last: number };

/** flite speech resampled to 48 kHz (sox -R: repeatable). */
function speech48k(text: string, name: string): Int16Array {
  const source = join(dir, `${name}.wav`);
  const upsampled = join(dir, `${name}-48k.wav`);
  execFileSync('flite', ['-voice', 'slt', '-t', text, '-o', source]);
  execFileSync('sox', ['-R', source, '-r', '48000', upsampled]);
  const { pcm, sampleRate } = readWavPcm(readFileSync(upsampled));
  expect(sampleRate).toBe(48_000);
  return pcm;
}

/** First and last sample of 10 ms windows that reach 1.5 % of full scale (flite pauses are near-silent). */
function measureSpan(pcm: Int16Array): { first: number; last: number } {
  const window = 480;
  let first = -1;
  let last = -1;
  for (let start = 0; start + window <= pcm.length; start += window) {
    let peak = 0;
    for (let i = start; i < start + window; i++) peak = Math.max(peak, Math.abs(pcm[i]));
    if (peak > 500) {
      if (first < 0) first = start;
      last = start + window - 1;
    }
  }
  return { first, last };
}

function seededNoise(samples: number, amplitude: number, seed = 1): Int16Array {
  const noise = new Int16Array(samples);
  let state = seed;
  for (let i = 0; i < samples; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    noise[i] = Math.round(((state / 2 ** 32) * 2 - 1) * amplitude);
  }
  return noise;
}

function concat(...parts: Int16Array[]): Int16Array {
  const joined = new Int16Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

interface TimelinePacket {
  frameIndex: number;
  payload: Buffer;
}

/** Opus-encodes a 48 kHz timeline in 20 ms frames; frames for which `isDtx` holds are not sent. */
function encodeTimeline(pcm: Int16Array, isDtx: (frameIndex: number) => boolean = () => false): TimelinePacket[] {
  const encoder = new opus.OpusEncoder(48_000, 1);
  encoder.setBitrate(32_000);
  const packets: TimelinePacket[] = [];
  for (let frameIndex = 0; frameIndex * FRAME_48K < pcm.length; frameIndex++) {
    const frame = new Int16Array(FRAME_48K);
    frame.set(pcm.subarray(frameIndex * FRAME_48K, (frameIndex + 1) * FRAME_48K));
    const payload = encoder.encode(Buffer.from(frame.buffer));
    if (!isDtx(frameIndex)) packets.push({ frameIndex, payload });
  }
  return packets;
}

/** RTP as Chrome sends it: sequence numbers contiguous across DTX gaps, timestamps by media time. */
function toRtp(packets: TimelinePacket[], firstSequence: number, firstTimestamp: number): RtpPacket[] {
  return packets.map(({ frameIndex, payload }, index) =>
    new RtpPacket(
      new RtpHeader({
        payloadType: 111,
        sequenceNumber: (firstSequence + index) & 0xffff,
        timestamp: (firstTimestamp + frameIndex * FRAME_48K) >>> 0,
        ssrc: 0x1234,
        marker: index === 0,
      }),
      payload,
    ),
  );
}

function recognise(wav: Buffer, name: string): string {
  const path = join(dir, `${name}.wav`);
  writeFileSync(path, wav);
  return execFileSync('pocketsphinx_continuous', ['-infile', path, '-logfn', '/dev/null'], { encoding: 'utf8' });
}

function recognisedShare(reference: string, hypothesis: string): number {
  const heard = hypothesis.toLowerCase().split(/\s+/).filter(Boolean);
  const words = reference.split(' ');
  let found = 0;
  for (const word of words) {
    const at = heard.indexOf(word);
    if (at >= 0) {
      heard.splice(at, 1);
      found++;
    }
  }
  return found / words.length;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mic-recorder-'));
  speechA = speech48k(SENTENCE_A, 'a');
  speechB = speech48k(SENTENCE_B, 'b');
  spanA = measureSpan(speechA);
  spanB = measureSpan(speechB);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('MicRecorder', () => {
  it('trims to the speech, keeps DTX gaps and lost packets as silence of the right length, reorders', () => {
    const noise = 48_000; // 1 s of -50 dBFS noise either side
    const dtxGap = 28_800; // 600 ms the sender does not send at all
    const gapStart = noise + speechA.length;
    const timeline = concat(seededNoise(noise, 180), speechA, new Int16Array(dtxGap), speechB, seededNoise(noise, 180, 7));
    const isDtx = (frame: number) => frame * FRAME_48K >= gapStart && (frame + 1) * FRAME_48K <= gapStart + dtxGap;
    // Start just before both counters wrap, as long-running streams do.
    const rtp = toRtp(encodeTimeline(timeline, isDtx), 65_500, 2 ** 32 - 96_000);
    const lostIndex = 100; // one packet in the middle of sentence A never arrives
    const arrivalOrder = rtp.filter((_, index) => index !== lostIndex);
    for (let i = 3; i + 1 < arrivalOrder.length; i += 9) {
      [arrivalOrder[i], arrivalOrder[i + 1]] = [arrivalOrder[i + 1], arrivalOrder[i]];
    }

    const recorder = new MicRecorder({ maxHoldMs: 60_000 });
    recorder.start();
    let loudest = 0;
    for (const packet of arrivalOrder) {
      recorder.pushRtp(packet);
      loudest = Math.max(loudest, recorder.level);
    }
    const segment = recorder.stop();

    expect(segment.sampleRate).toBe(16_000);
    expect(segment.durationMs).toBeCloseTo((segment.pcm.length / 16_000) * 1000, 6);
    const speechStart = noise + spanA.first;
    const speechEnd = gapStart + dtxGap + spanB.last;
    const expectedMs = ((speechEnd - speechStart) / 48_000) * 1000 + 2 * TRIM_PADDING_MS;
    // Had the gap been dropped instead of placed by timestamp, this would be 600 ms short.
    expect(Math.abs(segment.durationMs - expectedMs)).toBeLessThanOrEqual(250);
    const sourceSpeechMs = ((spanA.last - spanA.first + spanB.last - spanB.first) / 48_000) * 1000;
    expect(segment.speechMs).toBeGreaterThan(sourceSpeechMs * 0.6);
    expect(segment.speechMs).toBeLessThanOrEqual(segment.durationMs);
    expect(loudest).toBeGreaterThan(0.02);

    const heard = recognise(encodeWav(segment), 'segment');
    expect(recognisedShare(`${SENTENCE_A} ${SENTENCE_B}`, heard)).toBeGreaterThanOrEqual(0.7);
  });

  it('decodes reordered packets exactly as if they had arrived in order', () => {
    const rtp = toRtp(encodeTimeline(concat(seededNoise(24_000, 180), speechB)), 100, 777);
    const shuffled = rtp.slice();
    for (let i = 1; i + 2 < shuffled.length; i += 5) [shuffled[i], shuffled[i + 2]] = [shuffled[i + 2], shuffled[i]];
    const record = (packets: RtpPacket[]) => {
      const recorder = new MicRecorder({ maxHoldMs: 60_000 });
      recorder.start();
      for (const packet of packets) recorder.pushRtp(packet);
      return recorder.stop();
    };
    const inOrder = record(rtp);
    const reorderedSegment = record(shuffled);
    expect(inOrder.speechMs).toBeGreaterThan(1000);
    expect(reorderedSegment.pcm.length).toBe(inOrder.pcm.length);
    const differingSamples = inOrder.pcm.filter((sample, i) => sample !== reorderedSegment.pcm[i]).length;
    expect(differingSamples).toBe(0);
  });

  it('stops keeping audio at maxHoldMs and announces it once, letting the listener stop', () => {
    let announcements = 0;
    let segmentFromListener: ReturnType<MicRecorder['stop']> | undefined;
    const recorder: MicRecorder = new MicRecorder({
      maxHoldMs: 1500,
      onMaxHold: () => {
        announcements++;
        segmentFromListener = recorder.stop();
      },
    });
    const rtp = toRtp(encodeTimeline(concat(speechA, speechA)), 1, 5000);
    recorder.start();
    for (const packet of rtp) recorder.pushRtp(packet);

    expect(announcements).toBe(1);
    expect(recorder.recording).toBe(false);
    expect(segmentFromListener).toBeDefined();
    expect(segmentFromListener!.durationMs).toBeLessThanOrEqual(1500);
    expect(segmentFromListener!.durationMs).toBeGreaterThan(1000); // speech all the way to the cut
  });

  it('keeps audio to the limit and ignores the rest when the listener does not stop', () => {
    let announcements = 0;
    const recorder = new MicRecorder({ maxHoldMs: 1000, onMaxHold: () => announcements++ });
    recorder.start();
    for (const packet of toRtp(encodeTimeline(speechA), 40, 0)) recorder.pushRtp(packet);
    expect(announcements).toBe(1);
    expect(recorder.recordedMs).toBe(1000);
  });

  it('finds no speech in background noise with clicks', () => {
    const timeline = seededNoise(48_000 * 3, 30, 3); // -60 dBFS room
    for (let click = 4800; click + 240 < timeline.length; click += 14_400) {
      for (let i = 0; i < 240; i++) timeline[click + i] = i % 2 === 0 ? 20_000 : -20_000; // 5 ms clicks every 300 ms
    }
    const recorder = new MicRecorder({ maxHoldMs: 60_000 });
    recorder.start();
    for (const packet of toRtp(encodeTimeline(timeline), 9, 123)) recorder.pushRtp(packet);
    const segment = recorder.stop();
    expect(segment.speechMs).toBeLessThan(100); // well under the 500 ms a session needs to call it speech
  });

  it('records nothing outside start/stop, and each turn starts from its own first packet', () => {
    const recorder = new MicRecorder({ maxHoldMs: 60_000 });
    const rtp = toRtp(encodeTimeline(concat(speechB, speechB)), 200, 0);
    const half = rtp.length / 2;
    for (const packet of rtp.slice(0, half)) recorder.pushRtp(packet);
    expect(recorder.recording).toBe(false);
    expect(recorder.recordedMs).toBe(0);
    expect(recorder.stop().pcm.length).toBe(0);

    recorder.start();
    for (const packet of rtp.slice(half)) recorder.pushRtp(packet);
    const segment = recorder.stop();
    const expectedMs = ((spanB.last - spanB.first) / 48_000) * 1000 + 2 * TRIM_PADDING_MS;
    expect(Math.abs(segment.durationMs - expectedMs)).toBeLessThanOrEqual(250);
  });
});
