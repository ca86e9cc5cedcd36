// Opus packet duration from the TOC byte (RFC 6716 §3.1), so the sender can pace packets without
// decoding them. Hand-written because it is a table lookup plus the §3.4 framing checks; no
// maintained npm package exposes just this.

/** A 20 ms CELT fullband frame with no audio (TOC 0xf8: config 31, mono, code 0): comfort silence. */
export const OPUS_SILENCE_FRAME: Buffer = Buffer.from([0xf8, 0xff, 0xfe]);

const SAMPLE_RATE = 48_000;
/** RFC 6716 §3.2.5 [R5]: a packet never holds more than 120 ms of audio. */
const MAX_PACKET_SAMPLES = (120 * SAMPLE_RATE) / 1000;
/** RFC 6716 §3.4 [R2]: no frame is longer than 1275 bytes. */
const MAX_FRAME_BYTES = 1275;

/** Samples at 48 kHz of one frame, by TOC config (bits 7..3). */
function frameSamples48k(config: number): number {
  if (config < 12) return [480, 960, 1920, 2880][config & 3]!; // SILK-only: 10/20/40/60 ms
  if (config < 16) return [480, 960][config & 1]!; // Hybrid: 10/20 ms
  return [120, 240, 480, 960][config & 3]!; // CELT-only: 2.5/5/10/20 ms
}

function malformed(reason: string, packet: Uint8Array): Error {
  return new Error(`Malformed Opus packet (${packet.length} bytes, TOC 0x${(packet[0] ?? 0).toString(16)}): ${reason}`);
}

/** Reads a §3.2.1 frame length (1 or 2 bytes) at `offset`; returns [length, bytesUsed]. */
function readFrameLength(packet: Uint8Array, offset: number): [number, number] {
  const first = packet[offset];
  if (first === undefined) throw malformed('frame length byte missing', packet);
  if (first < 252) return [first, 1];
  const second = packet[offset + 1];
  if (second === undefined) throw malformed('second frame length byte missing', packet);
  return [second * 4 + first, 2];
}

function frameCount(packet: Uint8Array): number {
  const code = packet[0]! & 0x03;
  const payloadBytes = packet.length - 1;
  switch (code) {
    case 0:
      if (payloadBytes > MAX_FRAME_BYTES) throw malformed('code 0 frame longer than 1275 bytes', packet);
      return 1;
    case 1:
      if (payloadBytes % 2 !== 0) throw malformed('code 1 needs an even payload (two equal frames)', packet);
      return 2;
    case 2: {
      const [firstFrameBytes, used] = readFrameLength(packet, 1);
      if (firstFrameBytes > payloadBytes - used) throw malformed('code 2 first frame runs past the end', packet);
      return 2;
    }
    default:
      return code3FrameCount(packet);
  }
}

/** Code 3 (§3.2.5): frame count byte, optional padding, optional VBR frame lengths. */
function code3FrameCount(packet: Uint8Array): number {
  const countByte = packet[1];
  if (countByte === undefined) throw malformed('code 3 frame count byte missing', packet);
  const frames = countByte & 0x3f;
  if (frames === 0) throw malformed('code 3 with zero frames', packet);
  let offset = 2;
  let padding = 0;
  if (countByte & 0x40) {
    let lengthByte: number;
    do {
      lengthByte = packet[offset++] ?? -1;
      if (lengthByte < 0) throw malformed('code 3 padding length runs past the end', packet);
      padding += lengthByte === 255 ? 254 : lengthByte;
    } while (lengthByte === 255);
  }
  let remaining = packet.length - offset - padding;
  if (remaining < 0) throw malformed('code 3 padding longer than the packet', packet);
  if (countByte & 0x80) {
    for (let frame = 0; frame < frames - 1; frame++) {
      const [frameBytes, used] = readFrameLength(packet, offset);
      offset += used;
      remaining -= used + frameBytes;
      if (remaining < 0) throw malformed('code 3 VBR frame lengths run past the end', packet);
    }
  } else if (remaining % frames !== 0) {
    throw malformed('code 3 CBR payload does not split into equal frames', packet);
  }
  return frames;
}

/** Duration of an Opus packet in 48 kHz samples, from its TOC byte and frame count. */
export function opusPacketSamples48k(packet: Uint8Array): number {
  if (packet.length === 0) throw new Error('Malformed Opus packet: empty (no TOC byte)');
  const samples = frameSamples48k(packet[0]! >> 3) * frameCount(packet);
  if (samples > MAX_PACKET_SAMPLES) throw malformed(`${samples / 48} ms exceeds the 120 ms limit`, packet);
  return samples;
}

/** Duration of an Opus packet in milliseconds (2.5 … 120). */
export function opusPacketDurationMs(packet: Uint8Array): number {
  return (opusPacketSamples48k(packet) * 1000) / SAMPLE_RATE;
}
