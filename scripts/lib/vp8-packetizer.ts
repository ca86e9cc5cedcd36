import { RtpHeader, RtpPacket } from 'werift';

/**
 * Splits one VP8 frame into RTP packets (RFC 7741): a 1-byte payload descriptor with the S bit on
 * the first packet, marker bit on the last. werift ships VP8 depacketizing only, so test clients
 * packetize by hand.
 */
export function packetizeVp8(
  frame: Buffer,
  header: { payloadType: number; ssrc: number; timestamp: number; sequenceNumber: number },
  maxPayload = 1100,
): RtpPacket[] {
  const packets: RtpPacket[] = [];
  let seq = header.sequenceNumber;
  for (let offset = 0; offset < frame.length; offset += maxPayload) {
    const chunk = frame.subarray(offset, Math.min(frame.length, offset + maxPayload));
    const descriptor = Buffer.from([offset === 0 ? 0x10 : 0x00]);
    const last = offset + maxPayload >= frame.length;
    packets.push(
      new RtpPacket(
        new RtpHeader({
          payloadType: header.payloadType,
          ssrc: header.ssrc,
          timestamp: header.timestamp >>> 0,
          sequenceNumber: seq & 0xffff,
          marker: last,
        }),
        Buffer.concat([descriptor, chunk]),
      ),
    );
    seq++;
  }
  return packets;
}

/** Frames of an IVF file (what `ffmpeg -c:v libvpx -f ivf` writes). */
export function readIvfFrames(ivf: Buffer): Buffer[] {
  if (ivf.toString('ascii', 0, 4) !== 'DKIF') throw new Error('not an IVF file');
  const headerLength = ivf.readUInt16LE(6);
  const frames: Buffer[] = [];
  for (let offset = headerLength; offset + 12 <= ivf.length; ) {
    const size = ivf.readUInt32LE(offset);
    frames.push(ivf.subarray(offset + 12, offset + 12 + size));
    offset += 12 + size;
  }
  return frames;
}
