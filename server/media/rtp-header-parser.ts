import { RtpHeader } from 'werift';
import { checkPatchTargets } from './werift-patch-guard.js';

/*
 * werift 0.24 parses every RTP header twice per received packet (in SRTP decrypt and after it),
 * and its parser turns each of the first two bytes into a string of '0'/'1' characters to read
 * single bits: ~10 % of the server's main thread in a 10-session profile. This parser reads the
 * same fields (RFC 3550 §5.1, RFC 8285 header extensions) with bit operations and returns a real
 * werift RtpHeader, so everything downstream is unchanged. Installed once, at start-up;
 * test/unit/rtp-header-parser.test.ts checks it field by field against werift's own parser.
 */

const ONE_BYTE_PROFILE = 0xbede;
const TWO_BYTE_PROFILE = 0x1000;

export function parseRtpHeader(packet: Buffer): RtpHeader {
  const header = new RtpHeader();
  const first = packet[0]!;
  header.version = first >> 6;
  header.padding = (first & 0x20) !== 0;
  header.extension = (first & 0x10) !== 0;
  header.csrcLength = first & 0x0f;
  const second = packet[1]!;
  header.marker = (second & 0x80) !== 0;
  header.payloadType = second & 0x7f;
  header.sequenceNumber = packet.readUInt16BE(2);
  header.timestamp = packet.readUInt32BE(4);
  header.ssrc = packet.readUInt32BE(8);
  const csrc: number[] = [];
  let offset = 12;
  for (let i = 0; i < header.csrcLength; i++, offset += 4) csrc.push(packet.readUInt32BE(offset));
  header.csrc = csrc;
  if (header.extension) {
    const profile = packet.readUInt16BE(offset);
    const length = packet.readUInt16BE(offset + 2) * 4;
    header.extensionProfile = profile as RtpHeader['extensionProfile'];
    header.extensionLength = length;
    offset += 4;
    const end = offset + length;
    const extensions: RtpHeader['extensions'] = [];
    if (profile === ONE_BYTE_PROFILE) {
      while (offset < end) {
        const byte = packet[offset++]!;
        if (byte === 0) continue; // padding
        const id = byte >> 4;
        if (id === 0x0f) break; // reserved: stop
        const size = (byte & 0x0f) + 1;
        extensions.push({ id, payload: packet.subarray(offset, offset + size) });
        offset += size;
      }
    } else if (profile === TWO_BYTE_PROFILE) {
      while (offset < end) {
        const id = packet[offset++]!;
        if (id === 0) continue;
        const size = packet[offset++]!;
        extensions.push({ id, payload: packet.subarray(offset, offset + size) });
        offset += size;
      }
    } else {
      extensions.push({ id: 0, payload: packet.subarray(offset, end) });
    }
    header.extensions = extensions;
    offset = end;
  }
  header.payloadOffset = offset;
  if (header.padding) header.paddingSize = packet[packet.length - 1]!;
  return header;
}

let installed = false;

/** Makes werift use parseRtpHeader for every RTP header it reads. */
export function installFastRtpHeaderParser(): void {
  if (installed) return;
  checkPatchTargets('rtp-header-parser', [{ name: 'RtpHeader.deSerialize', current: RtpHeader.deSerialize, shape: 'c6fe9c0446fa3aaf' }]);
  installed = true;
  RtpHeader.deSerialize = parseRtpHeader;
}
