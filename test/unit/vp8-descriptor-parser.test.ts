import { beforeAll, describe, expect, it } from 'vitest';
import { RtpPacket, Vp8RtpPayload as MainVp8RtpPayload } from 'werift';
import { DepacketizeCallback, Vp8RtpPayload } from 'werift/nonstandard';
import { vp8Frames } from '../../scripts/lib/encoded-media.js';
import { packetizeVp8 } from '../../scripts/lib/vp8-packetizer.js';
import {
  installFastVp8DescriptorParser,
  parseVp8Payload,
  parseVp8PayloadMain,
} from '../../server/media/vp8-descriptor-parser.js';

const weriftParse = Vp8RtpPayload.deSerialize.bind(Vp8RtpPayload);
const weriftMainParse = MainVp8RtpPayload.deSerialize.bind(MainVp8RtpPayload);

/** Every own field werift sets, plus its getters, in a form toEqual compares exactly. */
function fields(p: Vp8RtpPayload) {
  const own = Object.fromEntries(
    Object.entries(p).map(([key, value]) => [key, Buffer.isBuffer(value) ? `buffer:${value.toString('hex')}` : value]),
  );
  return { ...own, isKeyframe: p.isKeyframe, isPartitionHead: p.isPartitionHead, payloadHeaderExist: p.payloadHeaderExist, size: p.size };
}

/** The result of a parse, or the fact that it threw (werift throws on some truncated packets). */
function outcome(parse: (buf: Buffer) => Vp8RtpPayload, buf: Buffer) {
  try {
    return fields(parse(buf));
  } catch {
    return 'throws';
  }
}

/** RFC 7741 §4.2 descriptor bytes for the given bits. */
function descriptor(bits: { x: number; n: number; s: number; pid: number; i: number; l: number; t: number; k: number; m: number; pictureId: number }): Buffer {
  const bytes = [(bits.x << 7) | (bits.n << 5) | (bits.s << 4) | bits.pid];
  if (bits.x) bytes.push((bits.i << 7) | (bits.l << 6) | (bits.t << 5) | (bits.k << 4));
  if (bits.x && bits.i) {
    if (bits.m) bytes.push(0x80 | (bits.pictureId >> 8), bits.pictureId & 0xff);
    else bytes.push(bits.pictureId & 0x7f);
  }
  if (bits.x && bits.l) bytes.push(0xa5); // TL0PICIDX
  if (bits.x && (bits.t || bits.k)) bytes.push(0x5a); // TID | Y | KEYIDX
  return Buffer.from(bytes);
}

let keyframe: Buffer;
let deltaFrame: Buffer;
let packets: RtpPacket[];

beforeAll(async () => {
  const frames = await vp8Frames({ seconds: 1 });
  keyframe = frames[0]!;
  deltaFrame = frames[1]!;
  let sequenceNumber = 65_500; // wraps past 65535 on the way
  packets = frames.flatMap((frame, i) => {
    const framePackets = packetizeVp8(frame, { payloadType: 96, ssrc: 1, timestamp: i * 3600, sequenceNumber }, 1000);
    sequenceNumber += framePackets.length;
    return framePackets;
  });
});

describe('parseVp8Payload', () => {
  it("reads every field of libvpx frames' packets exactly as werift does", () => {
    expect(packets.length).toBeGreaterThan(50);
    expect(new Set(packets.map((p) => weriftParse(p.payload).isKeyframe))).toEqual(new Set([true, false]));
    for (const [i, packet] of packets.entries()) {
      const parsed = parseVp8Payload(packet.payload);
      expect(parsed, `packet ${i}`).toBeInstanceOf(Vp8RtpPayload);
      expect(fields(parsed), `packet ${i}`).toEqual(fields(weriftParse(packet.payload)));
    }
  });

  it('matches werift for every X/N/S/PID/I/L/T/K/M combination, 7- and 15-bit picture ids, and every truncation', () => {
    let compared = 0;
    const mismatches: string[] = [];
    for (const frame of [keyframe, deltaFrame]) {
      for (let combo = 0; combo < 1 << 10; combo++) {
        const bit = (n: number) => (combo >> n) & 1;
        const pid = [0, 1, 5, 7][(combo >> 8) & 3]!;
        const pictureId = bit(7) ? 0x7abc : 0x5d;
        const head = descriptor({ x: bit(0), n: bit(1), s: bit(2), i: bit(3), l: bit(4), t: bit(5), k: bit(6), m: bit(7), pid, pictureId });
        const packet = Buffer.concat([head, frame.subarray(0, 40)]);
        for (let length = 0; length <= head.length + 4; length++) {
          const buf = packet.subarray(0, length);
          const ours = JSON.stringify(outcome(parseVp8Payload, buf));
          const theirs = JSON.stringify(outcome(weriftParse, buf));
          if (ours !== theirs) mismatches.push(`combo ${combo.toString(2)} length ${length}: ${ours} != ${theirs}`);
          compared++;
        }
        const ours = JSON.stringify(outcome(parseVp8PayloadMain, packet));
        if (ours !== JSON.stringify(outcome(weriftMainParse, packet))) mismatches.push(`main bundle, combo ${combo.toString(2)}: ${ours}`);
      }
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(compared).toBeGreaterThan(10_000);
  });

  it('reads a 15-bit picture id and a keyframe from a Chrome-style descriptor', () => {
    const packet = Buffer.concat([Buffer.from([0x90, 0x80, 0xab, 0xcd]), keyframe.subarray(0, 20)]);
    expect(parseVp8Payload(packet)).toMatchObject({ xBit: 1, sBit: 1, pid: 0, iBit: 1, mBit: 1, pictureId: 0x2bcd, pBit: 0, isKeyframe: true });
    expect(parseVp8Payload(packet).payload).toEqual(keyframe.subarray(0, 20));
  });

  it('once installed, werift depacketizes the same frames with it', () => {
    const depacketize = () => {
      const frames: { data: string; isKeyframe: boolean }[] = [];
      const depacketizer = new DepacketizeCallback('VP8', { isFinalPacketInSequence: (h) => h.marker });
      depacketizer.pipe((output) => {
        if (output.frame) frames.push({ data: output.frame.data.toString('hex'), isKeyframe: output.frame.isKeyframe });
      });
      // The depacketizer empties the packets it has used, so it gets copies.
      for (const packet of packets) depacketizer.input({ rtp: RtpPacket.deSerialize(packet.serialize()) });
      return frames;
    };
    const before = depacketize();
    installFastVp8DescriptorParser();
    expect(Vp8RtpPayload.deSerialize).toBe(parseVp8Payload);
    expect(MainVp8RtpPayload.deSerialize).toBe(parseVp8PayloadMain);
    const after = depacketize();
    expect(after.length).toBeGreaterThan(10);
    expect(after.filter((f) => f.isKeyframe)).toHaveLength(1);
    expect(after).toEqual(before);
  });

  it('is many times faster than the parser it replaces', () => {
    const payloads = packets.map((p) => Buffer.concat([Buffer.from([p.payload[0]! | 0x80, 0x80, 0x81, 0x23]), p.payload.subarray(1)]));
    const time = (parse: (p: Buffer) => Vp8RtpPayload) => {
      const started = performance.now();
      for (let i = 0; i < 20; i++) for (const payload of payloads) parse(payload);
      return performance.now() - started;
    };
    time(weriftParse);
    time(parseVp8Payload); // warm both up
    const ratios = [0, 1, 2].map(() => time(weriftParse) / time(parseVp8Payload));
    expect(ratios.sort((a, b) => a - b)[1]).toBeGreaterThan(5);
  });
});
