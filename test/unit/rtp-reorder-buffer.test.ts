import { RtpHeader, RtpPacket } from 'werift';
import { describe, expect, it } from 'vitest';
import { RtpReorderBuffer } from '../../server/media/rtp-reorder-buffer.js';

/** 20 ms Opus-like packets: 960 ticks apart on a 48 kHz clock. */
function packet(sequence: number, firstSequence = 0, firstTimestamp = 0): RtpPacket {
  const index = (sequence - firstSequence) & 0xffff;
  return new RtpPacket(
    new RtpHeader({ sequenceNumber: sequence & 0xffff, timestamp: (firstTimestamp + index * 960) >>> 0 }),
    Buffer.from([index & 0xff]),
  );
}

function collect(latencyMs = 100) {
  const released: number[] = [];
  const losses: number[] = [];
  const buffer = new RtpReorderBuffer({
    clockRate: 48_000,
    latencyMs,
    onPacket: (rtp) => released.push(rtp.header.sequenceNumber),
    onLoss: (missing) => losses.push(missing),
  });
  return { buffer, released, losses };
}

describe('RtpReorderBuffer', () => {
  it('releases packets in sequence order across the 16-bit wrap', () => {
    const { buffer, released, losses } = collect();
    const order = [65_530, 65_532, 65_531, 65_533, 0, 65_535, 65_534, 1, 3, 2, 4];
    for (const sequence of order) buffer.push(packet(sequence, 65_530, 2 ** 32 - 3000));
    expect(released).toEqual([65_530, 65_531, 65_532, 65_533, 65_534, 65_535, 0, 1, 2, 3, 4]);
    expect(losses).toEqual([]);
  });

  it('gives up on a lost packet after the latency and loses nothing else', () => {
    const { buffer, released, losses } = collect(100);
    for (let sequence = 0; sequence < 20; sequence++) if (sequence !== 5) buffer.push(packet(sequence));
    const expected = Array.from({ length: 20 }, (_, i) => i).filter((i) => i !== 5);
    expect(released).toEqual(expected);
    expect(losses).toEqual([1]);
  });

  it('holds packets behind a gap until the latency has passed', () => {
    const { buffer, released } = collect(100);
    for (const sequence of [0, 2, 3, 4, 5, 6]) buffer.push(packet(sequence)); // 6 is 80 ms after 2
    expect(released).toEqual([0]);
    buffer.push(packet(1)); // arrives late but in time
    expect(released).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('drops duplicates and packets whose slot was given up', () => {
    const { buffer, released } = collect(40);
    for (const sequence of [0, 1, 1, 3, 4, 5, 6, 2, 0]) buffer.push(packet(sequence));
    expect(released).toEqual([0, 1, 3, 4, 5, 6]);
  });

  it('flushes what is waiting, in order', () => {
    const { buffer, released } = collect(1000);
    for (const sequence of [10, 13, 12, 15]) buffer.push(packet(sequence, 10));
    expect(released).toEqual([10]);
    buffer.flush();
    expect(released).toEqual([10, 12, 13, 15]);
  });

  it('treats a huge sequence jump as a sender restart', () => {
    const { buffer, released } = collect(1000);
    for (const sequence of [100, 101, 9000, 9001]) buffer.push(packet(sequence, 100));
    expect(released).toEqual([100, 101, 9000, 9001]);
  });
});
