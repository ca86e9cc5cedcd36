import { Vp8RtpPayload as MainVp8RtpPayload } from 'werift';
import { Vp8RtpPayload } from 'werift/nonstandard';
import { checkPatchTargets } from './werift-patch-guard.js';

/*
 * werift 0.24 reads the VP8 payload descriptor (RFC 7741 §4.2) and payload header (§4.3) of every
 * received video packet with getBit(), which turns each byte into an array of '0'/'1' strings to
 * pick single bits out of it: ~3 % of the server's main thread in the 20-session bench. This reads
 * the same fields with bit operations and returns a real werift Vp8RtpPayload, so werift's
 * depacketizer is unchanged downstream. It copies werift exactly, including where werift departs
 * from RFC 7741 (an L bit alone skips two bytes, a T bit alone skips none; browsers always send
 * L with T, or neither) and where it throws on a truncated packet (the depacketizer catches that
 * and drops the frame). test/unit/vp8-descriptor-parser.test.ts checks every field against
 * werift's own parser on real and hand-made packets.
 */

type Vp8PayloadClass = typeof Vp8RtpPayload;

/** werift throws (reading a missing byte) where the packet is too short; so do we. */
function byteAt(buf: Buffer, offset: number): number {
  const byte = buf[offset];
  if (byte === undefined) throw new TypeError(`VP8 payload too short: no byte at ${offset} of ${buf.length}`);
  return byte;
}

function parserFor(PayloadClass: Vp8PayloadClass): (buf: Buffer) => Vp8RtpPayload {
  return (buf) => {
    const p = new PayloadClass();
    const first = byteAt(buf, 0);
    p.xBit = first >> 7;
    p.nBit = (first >> 5) & 1;
    p.sBit = (first >> 4) & 1;
    p.pid = first & 0x07;
    let offset = 1;
    if (p.xBit) {
      const extension = byteAt(buf, offset++);
      p.iBit = extension >> 7;
      p.lBit = (extension >> 6) & 1;
      p.tBit = (extension >> 5) & 1;
      p.kBit = (extension >> 4) & 1;
    }
    if (p.iBit) {
      const id = byteAt(buf, offset);
      p.mBit = id >> 7;
      if (p.mBit) {
        p.pictureId = ((id & 0x7f) << 8) | byteAt(buf, offset + 1);
        offset += 2;
      } else {
        p.pictureId = id & 0x7f;
        offset++;
      }
    }
    if (p.lBit) offset++; // TL0PICIDX
    if (p.lBit || p.kBit) offset++; // TID/Y/KEYIDX, as werift counts it
    p.payload = buf.subarray(offset);
    if (p.sBit === 1 && p.pid === 0) {
      // The VP8 payload header of a frame's first partition; P = 0 marks a keyframe.
      const header = byteAt(buf, offset);
      p.size0 = header >> 5;
      p.hBit = (header >> 4) & 1;
      p.ver = (header >> 1) & 0x07;
      p.pBit = header & 1;
      // werift leaves these undefined, not 0, past the end of a short packet.
      p.size1 = buf[offset + 1] as number;
      p.size2 = buf[offset + 2] as number;
    }
    return p;
  };
}

/** Parses a VP8 RTP payload into werift's 'werift/nonstandard' Vp8RtpPayload. */
export const parseVp8Payload = parserFor(Vp8RtpPayload);

/** The same for the copy of the class bundled in 'werift' itself (its dePacketizeRtpPackets). */
export const parseVp8PayloadMain = parserFor(MainVp8RtpPayload as unknown as Vp8PayloadClass);

let installed = false;

/** Makes werift's depacketizers (both bundles) read VP8 payload descriptors with our parser. */
export function installFastVp8DescriptorParser(): void {
  if (installed) return;
  checkPatchTargets('vp8-descriptor-parser', [
    { name: 'Vp8RtpPayload.deSerialize (werift/nonstandard)', current: Vp8RtpPayload.deSerialize, shape: 'f14017a2bd03dab3' },
    { name: 'Vp8RtpPayload.deSerialize (werift)', current: MainVp8RtpPayload.deSerialize, shape: 'f14017a2bd03dab3' },
  ]);
  installed = true;
  Vp8RtpPayload.deSerialize = parseVp8Payload;
  MainVp8RtpPayload.deSerialize = parseVp8PayloadMain;
}
