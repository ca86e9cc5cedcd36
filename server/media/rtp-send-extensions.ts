import { performance } from 'node:perf_hooks';
import { RTP_EXTENSION_URI, ntpTime, type RtpHeader } from 'werift';

/*
 * The header extensions werift's RTCRtpSender.sendRtp writes on every packet (RFC 8285: MID,
 * RID, repaired RID, abs-send-time, transport-wide sequence number), built as werift builds them
 * but without werift's per-packet detours: its ntpTime() splits a decimal string into an array and
 * goes through a generic Buffer writer and a BigInt read (~1.9 µs; this ~0.45 µs), abs-send-time
 * shifts BigInts, transport-cc goes through the generic writer, and uint32Add adds BigInts.
 * test/unit/rtp-send-extensions.test.ts checks each against werift's own function.
 */

export type Extension = { id: number; payload: Buffer };

/** What buildExtensions reads and writes on werift's sender (and its DTLS transport). */
export interface ExtensionSource {
  headerExtensions: { id: number; uri: string }[];
  mid?: string;
  rtpStreamId?: string;
  repairedRtpStreamId?: string;
  dtlsTransport: { transportSequenceNumber: number };
}

/** werift's uint32Add ((a + b) mod 2^32, through BigInt), without BigInt for safe integers. */
export function uint32Add(a: number, b: number): number {
  const sum = a + b;
  if (Number.isSafeInteger(a) && Number.isSafeInteger(b) && Number.isSafeInteger(sum)) return sum >>> 0;
  return Number((BigInt(a) + BigInt(b)) & 0xffffffffn); // werift's arithmetic, and its RangeError
}

/** werift's `ntpTime()` as its two 32-bit words, and the BigInt werift stores. */
export interface NtpTime {
  high: number;
  low: number;
  value: bigint;
}

const NTP_EPOCH_MS = Date.UTC(1900, 0, 1);
let cachedHigh = -1;
let cachedHighBig = 0n;

/**
 * werift's ntpTime(): seconds since 1900 in the high word and — werift's quirk, kept — the
 * decimal digits after the point of the seconds, read as an integer, in the low word (not a
 * binary fraction). Read from the same string, without splitting it or a Buffer.
 */
export function ntpNow(): NtpTime {
  const now = performance.timeOrigin + performance.now() - NTP_EPOCH_MS;
  const text = (now / 1e3).toString();
  const dot = text.indexOf('.');
  let high = 0;
  let low = 0;
  let plain = dot > 0 && text.length - dot <= 16;
  for (let i = 0; plain && i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (i === dot) continue;
    if (digit < 0 || digit > 9) plain = false;
    else if (i < dot) high = high * 10 + digit;
    else low = low * 10 + digit;
  }
  if (!plain || high > 0xffffffff || low > 0xffffffff) {
    // Exponent notation, no fraction, or words out of range: werift's own function (and its errors).
    const value = ntpTime();
    return { high: Number(value >> 32n), low: Number(value & 0xffffffffn), value };
  }
  if (high !== cachedHigh) {
    cachedHigh = high;
    cachedHighBig = BigInt(high) << 32n;
  }
  return { high, low, value: cachedHighBig | BigInt(low) };
}

/** werift's serializeAbsSendTime: bits 14…37 of the NTP time (6.18 fixed point), big-endian. */
export function absSendTime(ntp: NtpTime): Buffer {
  const value = ((ntp.high & 0x3f) << 18) | (ntp.low >>> 14);
  const buf = Buffer.allocUnsafe(3); // every byte written; a pooled view is ~96 B of heap, Buffer.alloc(3) ~210 B
  buf[0] = value >>> 16;
  buf[1] = value >>> 8;
  buf[2] = value;
  return buf;
}

/** werift's serializeTransportWideCC for its 16-bit sequence numbers. */
export function transportWideCc(sequenceNumber: number): Buffer {
  const buf = Buffer.allocUnsafe(2);
  buf[0] = sequenceNumber >>> 8;
  buf[1] = sequenceNumber;
  return buf;
}

/**
 * The header extensions werift's sendRtp puts on a packet: the negotiated ones in their order
 * (advancing the transport-wide sequence number), the packet's own merged in by id, sorted by id.
 */
export function buildExtensions(sender: ExtensionSource, header: RtpHeader, ntp: NtpTime): Extension[] {
  const original: Extension[] = Array.isArray(header.extensions) ? header.extensions : [...header.extensions];
  const extensions: Extension[] = [];
  const negotiated = sender.headerExtensions;
  for (let i = 0; i < negotiated.length; i++) {
    const extension = negotiated[i]!;
    let payload: Buffer | undefined;
    switch (extension.uri) {
      case RTP_EXTENSION_URI.sdesMid:
        if (sender.mid) payload = Buffer.from(sender.mid);
        break;
      case RTP_EXTENSION_URI.sdesRTPStreamID:
        if (sender.rtpStreamId) payload = Buffer.from(sender.rtpStreamId);
        break;
      case RTP_EXTENSION_URI.repairedRtpStreamId:
        if (sender.repairedRtpStreamId) payload = Buffer.from(sender.repairedRtpStreamId);
        break;
      case RTP_EXTENSION_URI.transportWideCC: {
        const dtls = sender.dtlsTransport;
        dtls.transportSequenceNumber = (dtls.transportSequenceNumber + 1) & 0xffff;
        payload = transportWideCc(dtls.transportSequenceNumber);
        break;
      }
      case RTP_EXTENSION_URI.absSendTime:
        payload = absSendTime(ntp);
        break;
    }
    if (payload) extensions.push({ id: extension.id, payload });
  }
  for (let i = 0; i < original.length; i++) {
    const extension = original[i]!;
    let exist: Extension | undefined;
    for (let j = 0; j < extensions.length && !exist; j++) if (extensions[j]!.id === extension.id) exist = extensions[j];
    if (exist) exist.payload = extension.payload;
    else extensions.push(extension);
  }
  return sortById(extensions);
}

/** werift's `sort((a, b) => a.id - b.id)`; an insertion sort is as stable, for finite ids. */
function sortById(extensions: Extension[]): Extension[] {
  for (let i = 0; i < extensions.length; i++) {
    const id = extensions[i]!.id;
    if (typeof id !== 'number' || !Number.isFinite(id)) return extensions.sort((a, b) => a.id - b.id);
  }
  for (let i = 1; i < extensions.length; i++) {
    const item = extensions[i]!;
    let j = i - 1;
    for (; j >= 0 && extensions[j]!.id > item.id; j--) extensions[j + 1] = extensions[j]!;
    extensions[j + 1] = item;
  }
  return extensions;
}
