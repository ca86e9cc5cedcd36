/** The live mic path for streamed STT: RTP → in order → libopus at 24 kHz → PCM, gaps as silence; and its pause finder. */
import opus from '@discordjs/opus';
import { RtpHeader, RtpPacket } from 'werift';
import { describe, expect, it } from 'vitest';
import { MicPcmStream } from '../../server/media/mic-pcm-stream.js';
import { PauseDetector } from '../../server/media/speech-pauses.js';

const FRAME_48K = 960;

/** A 440 Hz tone encoded as 20 ms Opus packets in RTP, timestamps 48 kHz. */
function tonePackets(frames: number): RtpPacket[] {
  const encoder = new opus.OpusEncoder(48_000, 1);
  return Array.from({ length: frames }, (_, index) => {
    const pcm = Buffer.alloc(FRAME_48K * 2);
    for (let i = 0; i < FRAME_48K; i++) pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * (index * FRAME_48K + i)) / 48_000)), i * 2);
    const header = new RtpHeader({ payloadType: 111, sequenceNumber: (60_000 + index) & 0xffff, timestamp: (4_294_000_000 + index * FRAME_48K) >>> 0, ssrc: 7 });
    return new RtpPacket(header, encoder.encode(pcm));
  });
}

describe('MicPcmStream', () => {
  it('decodes to 24 kHz in media order across sequence and timestamp wrap, reordered packets put back', () => {
    const packets = tonePackets(50);
    [packets[10], packets[11]] = [packets[11]!, packets[10]!]; // arrive swapped
    const chunks: Int16Array[] = [];
    const stream = new MicPcmStream({ sampleRate: 24_000, onPcm: (pcm) => chunks.push(pcm) });
    stream.start();
    for (const packet of packets) stream.pushRtp(packet);
    stream.stop();
    const total = chunks.reduce((n, c) => n + c.length, 0);
    expect(total).toBe(50 * 480);
    expect(chunks.every((c) => c.length === 480)).toBe(true);
    const all = new Int16Array(total);
    chunks.reduce((at, c) => (all.set(c, at), at + c.length), 0);
    let crossings = 0;
    for (let i = 2400; i < total; i++) if (all[i - 1]! < 0 && all[i]! >= 0) crossings++;
    expect(crossings).toBeGreaterThanOrEqual(394); // 440 Hz over 0.9 s, nothing out of order
    expect(crossings).toBeLessThanOrEqual(398);
  });

  it('fills a gap (DTX, loss) with silence of its length, and passes nothing while stopped', () => {
    const packets = tonePackets(30).filter((_, index) => index < 10 || index >= 20);
    const chunks: Int16Array[] = [];
    const stream = new MicPcmStream({ sampleRate: 24_000, onPcm: (pcm) => chunks.push(pcm) });
    stream.pushRtp(packets[0]!);
    expect(chunks).toHaveLength(0);
    stream.start();
    for (const packet of packets) stream.pushRtp(packet);
    stream.stop();
    const lengths = chunks.map((c) => c.length);
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(30 * 480);
    expect(lengths).toContain(10 * 480);
    const gap = chunks.find((c) => c.length === 4800)!;
    expect(gap.every((v) => v === 0)).toBe(true);
  });
});

describe('PauseDetector', () => {
  it('reports a pause once speech is followed by enough silence, and not for a short breath', () => {
    const detector = new PauseDetector({ sampleRate: 24_000, pauseMs: 500, minSpeechMs: 300 });
    const tone = (ms: number) => Int16Array.from({ length: (24 * ms) | 0 }, (_, i) => Math.round(6000 * Math.sin(i / 3)));
    const quiet = (ms: number) => Int16Array.from({ length: (24 * ms) | 0 }, (_, i) => (i % 7) - 3);
    expect(detector.push(quiet(400))).toBe(false);
    expect(detector.push(tone(600))).toBe(false);
    expect(detector.push(quiet(300))).toBe(false); // a breath
    expect(detector.push(tone(200))).toBe(false);
    const pieces = Array.from({ length: 30 }, () => detector.push(quiet(20)));
    expect(pieces.filter(Boolean)).toHaveLength(1);
    expect(pieces.indexOf(true)).toBe(24); // 500 ms of silence = the 25th 20 ms piece
    expect(detector.push(quiet(2000)), 'no speech since: no second pause').toBe(false);
  });
});
