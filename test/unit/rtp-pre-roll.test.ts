import { RtpHeader, RtpPacket } from 'werift';
import { describe, expect, it } from 'vitest';
import { RtpPreRoll } from '../../server/media/rtp-pre-roll.js';

const packet = (index: number) =>
  new RtpPacket(new RtpHeader({ payloadType: 111, sequenceNumber: (65_530 + index) & 0xffff, timestamp: (4_294_960_000 + index * 960) >>> 0, ssrc: 1 }), Buffer.from([index]));

describe('RtpPreRoll', () => {
  it('keeps the last keepMs of packets by RTP timestamp across the wrap, and hands back the last N ms oldest first', () => {
    const preRoll = new RtpPreRoll(300);
    for (let i = 0; i < 100; i++) preRoll.push(packet(i));
    const kept = preRoll.lastMs(10_000);
    expect(kept.length).toBe(16); // 300 ms = 15 frames back from the newest, plus the newest
    expect(kept[0]!.payload[0]).toBe(84);
    expect(kept.at(-1)!.payload[0]).toBe(99);
    expect(preRoll.lastMs(100).map((p) => p.payload[0])).toEqual([94, 95, 96, 97, 98, 99]);
    preRoll.clear();
    expect(preRoll.lastMs(100)).toEqual([]);
  });
});
