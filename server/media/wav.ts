import { endianness } from 'node:os';
import type { MicSegment } from '../assistant/engine.js';

const HEADER_BYTES = 44;

/**
 * A mic segment as a 16-bit PCM mono WAV file (what speech-to-text endpoints and pocketsphinx
 * read). The canonical 44-byte RIFF header is written by hand: it is a dozen fixed fields, not
 * worth a dependency.
 */
export function encodeWav(segment: MicSegment): Buffer {
  const { pcm, sampleRate } = segment;
  const dataBytes = pcm.length * 2;
  const wav = Buffer.alloc(HEADER_BYTES + dataBytes);
  wav.write('RIFF', 0, 'ascii');
  wav.writeUInt32LE(HEADER_BYTES - 8 + dataBytes, 4);
  wav.write('WAVE', 8, 'ascii');
  wav.write('fmt ', 12, 'ascii');
  wav.writeUInt32LE(16, 16); // fmt chunk size
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(sampleRate, 24);
  wav.writeUInt32LE(sampleRate * 2, 28); // byte rate
  wav.writeUInt16LE(2, 32); // block align
  wav.writeUInt16LE(16, 34); // bits per sample
  wav.write('data', 36, 'ascii');
  wav.writeUInt32LE(dataBytes, 40);
  if (endianness() === 'LE') Buffer.from(pcm.buffer, pcm.byteOffset, dataBytes).copy(wav, HEADER_BYTES);
  else for (let i = 0; i < pcm.length; i++) wav.writeInt16LE(pcm[i], HEADER_BYTES + i * 2);
  return wav;
}
