import { describe, expect, it } from 'vitest';
import { encodeChunks, encodeTransportCcFeedback, TransportCcFeedback } from '../../server/media/transport-cc-feedback.js';

/** A reader written from the draft (not from the encoder): seq → arrival µs, or null when lost. */
function decode(packet: Buffer) {
  expect(packet.length % 4).toBe(0);
  expect(packet[0]! >> 6).toBe(2);
  expect(packet[0]! & 0x1f).toBe(15);
  expect(packet[1]).toBe(205);
  expect((packet.readUInt16BE(2) + 1) * 4).toBe(packet.length);
  const baseSeq = packet.readUInt16BE(12);
  const count = packet.readUInt16BE(14);
  const referenceTime = packet.readUIntBE(16, 3);
  const feedbackCount = packet[19]!;
  const statuses: number[] = [];
  let offset = 20;
  while (statuses.length < count) {
    const chunk = packet.readUInt16BE(offset);
    offset += 2;
    if ((chunk & 0x8000) === 0) {
      for (let i = 0; i < (chunk & 0x1fff) && statuses.length < count; i++) statuses.push((chunk >> 13) & 3);
    } else if ((chunk & 0x4000) === 0) {
      for (let i = 13; i >= 0 && statuses.length < count; i--) statuses.push((chunk >> i) & 1);
    } else {
      for (let i = 6; i >= 0 && statuses.length < count; i--) statuses.push((chunk >> (2 * i)) & 3);
    }
  }
  let time = referenceTime * 64_000;
  const arrivals = new Map<number, number | null>();
  statuses.forEach((status, i) => {
    const seq = (baseSeq + i) & 0xffff;
    if (status === 0) return arrivals.set(seq, null);
    const ticks = status === 1 ? packet.readUInt8(offset++) : packet.readInt16BE((offset += 2) - 2);
    time += ticks * 250;
    arrivals.set(seq, time);
  });
  expect(offset).toBeLessThanOrEqual(packet.length);
  expect(packet.length - offset).toBeLessThan(4);
  return { baseSeq, count, referenceTime, feedbackCount, arrivals, ssrc: packet.readUInt32BE(4), mediaSsrc: packet.readUInt32BE(8) };
}

describe('encodeChunks', () => {
  it('runs of one status become one run-length chunk, mixed statuses 2-bit vectors', () => {
    expect(encodeChunks([1, 1, 1, 1, 1, 1, 1, 1, 1, 1])).toEqual([(1 << 13) | 10]);
    const mixed = encodeChunks([1, 0, 2, 1, 1, 0, 1]);
    expect(mixed).toHaveLength(1);
    expect(mixed[0]! >> 14).toBe(3);
  });
});

describe('encodeTransportCcFeedback', () => {
  it('reports arrivals, losses and large or negative deltas that read back within 250 µs', () => {
    const reference = 1000; // × 64 ms
    const t0 = reference * 64_000 + 10_000;
    const arrivalsUs = [t0, t0 + 1000, undefined, undefined, t0 + 90_000, t0 + 89_000, t0 + 89_250];
    const packet = encodeTransportCcFeedback({ senderSsrc: 1, mediaSsrc: 2, baseSeq: 65534, arrivalsUs, referenceTime: reference, feedbackCount: 7 });
    const read = decode(packet);
    expect(read).toMatchObject({ baseSeq: 65534, count: 7, referenceTime: reference, feedbackCount: 7, ssrc: 1, mediaSsrc: 2 });
    arrivalsUs.forEach((arrival, i) => {
      const got = read.arrivals.get((65534 + i) & 0xffff);
      if (arrival === undefined) expect(got).toBeNull();
      else expect(Math.abs(got! - arrival)).toBeLessThanOrEqual(125);
    });
  });
});

describe('TransportCcFeedback', () => {
  it('one feedback covers every sequence number since the last one, lost ones included', () => {
    const sent: Buffer[] = [];
    let now = 5_000_000;
    const feedback = new TransportCcFeedback({ senderSsrc: 9, send: (p) => sent.push(p), nowUs: () => now });
    for (const seq of [100, 101, 103, 104, 105]) {
      feedback.onPacket(seq, 42);
      now += 3000;
    }
    feedback.flush();
    feedback.flush(); // nothing new: nothing sent
    expect(sent).toHaveLength(1);
    const first = decode(sent[0]!);
    expect(first.baseSeq).toBe(100);
    expect([...first.arrivals.keys()]).toEqual([100, 101, 102, 103, 104, 105]);
    expect(first.arrivals.get(102)).toBeNull();
    expect(first.arrivals.get(105)).toBeCloseTo(5_012_000, -3);
    expect(first.mediaSsrc).toBe(42);

    feedback.onPacket(102, 42); // late: already reported lost
    for (const seq of [65535 - 65535 + 106, 107]) feedback.onPacket(seq, 42);
    feedback.flush();
    const second = decode(sent[1]!);
    expect(second.baseSeq).toBe(106);
    expect(second.count).toBe(2);
    expect(second.feedbackCount).toBe(first.feedbackCount + 1);
  });

  it('follows the 16-bit sequence number across its wrap', () => {
    const sent: Buffer[] = [];
    let now = 1_000_000;
    const feedback = new TransportCcFeedback({ senderSsrc: 1, send: (p) => sent.push(p), nowUs: () => (now += 1000) });
    for (const seq of [65533, 65534, 65535, 0, 1]) feedback.onPacket(seq, 5);
    feedback.flush();
    const read = decode(sent[0]!);
    expect(read.count).toBe(5);
    expect([...read.arrivals.values()].every((value) => value !== null)).toBe(true);
  });
});
