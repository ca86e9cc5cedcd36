/**
 * Reads a WAV file as it streams in: the RIFF header first, then PCM samples chunk by chunk.
 * By hand because it is a dozen fixed fields, and because streaming TTS servers write the sizes
 * they do not know yet as 0 or 0xFFFFFFFF (OpenAI does), which whole-file readers reject or obey:
 * here the data chunk simply runs to the end of the stream.
 */

export interface WavFormat {
  sampleRate: number;
  channels: number;
  /** 16-bit integer or 32-bit float samples. */
  encoding: 'int16' | 'float32';
}

export class WavFormatError extends Error {
  override name = 'WavFormatError';
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
const UNKNOWN_SIZES = new Set([0, 0xffffffff]);

export class WavStreamReader {
  private buffered: Buffer = Buffer.alloc(0);
  private inData = false;
  private dataLeft = Infinity;
  private format?: WavFormat;

  /** The format, once the header has been read. */
  get wavFormat(): WavFormat | undefined {
    return this.format;
  }

  /** Bytes in; mono samples (−1…1, channels averaged) out, as soon as whole frames are there. */
  push(chunk: Buffer): Float32Array {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    if (!this.inData && !this.readHeader()) return new Float32Array(0);
    return this.takeSamples();
  }

  /** Throws when the stream ended before any audio did. */
  end(): void {
    if (!this.format) throw new WavFormatError('The WAV stream ended inside its header.');
  }

  private readHeader(): boolean {
    const b = this.buffered;
    if (b.length < 12) return false;
    if (b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') {
      throw new WavFormatError('The audio is not a WAV file (no RIFF/WAVE header).');
    }
    let at = 12;
    while (at + 8 <= b.length) {
      const id = b.toString('latin1', at, at + 4);
      const size = b.readUInt32LE(at + 4);
      if (id === 'data') {
        if (!this.format) throw new WavFormatError('The WAV file has no fmt chunk before its data.');
        this.inData = true;
        this.dataLeft = UNKNOWN_SIZES.has(size) ? Infinity : size;
        this.buffered = b.subarray(at + 8);
        return true;
      }
      if (at + 8 + size > b.length) return false; // the rest of this chunk has not arrived
      if (id === 'fmt ') this.format = parseFmt(b.subarray(at + 8, at + 8 + size));
      at += 8 + size + (size % 2); // chunks are word-aligned
    }
    return false;
  }

  private takeSamples(): Float32Array {
    const { channels, encoding } = this.format!;
    const bytesPerSample = encoding === 'int16' ? 2 : 4;
    const frameBytes = bytesPerSample * channels;
    const usable = Math.min(this.buffered.length, this.dataLeft);
    const frames = Math.floor(usable / frameBytes);
    const out = new Float32Array(frames);
    const b = this.buffered;
    for (let f = 0; f < frames; f++) {
      let sum = 0;
      for (let c = 0; c < channels; c++) {
        const offset = f * frameBytes + c * bytesPerSample;
        sum += encoding === 'int16' ? b.readInt16LE(offset) / 32768 : b.readFloatLE(offset);
      }
      out[f] = sum / channels;
    }
    const used = frames * frameBytes;
    this.dataLeft -= used;
    // After the data chunk (trailing LIST chunks, …) nothing is audio.
    this.buffered = this.dataLeft <= 0 ? Buffer.alloc(0) : b.subarray(used);
    return out;
  }
}

function parseFmt(fmt: Buffer): WavFormat {
  if (fmt.length < 16) throw new WavFormatError('The WAV fmt chunk is too short.');
  let tag = fmt.readUInt16LE(0);
  const channels = fmt.readUInt16LE(2);
  const sampleRate = fmt.readUInt32LE(4);
  const bits = fmt.readUInt16LE(14);
  if (tag === WAVE_FORMAT_EXTENSIBLE && fmt.length >= 26) tag = fmt.readUInt16LE(24); // the sub-format GUID's first field
  const encoding = tag === WAVE_FORMAT_PCM && bits === 16 ? 'int16' : tag === WAVE_FORMAT_IEEE_FLOAT && bits === 32 ? 'float32' : undefined;
  if (!encoding) throw new WavFormatError(`WAV audio in format ${tag} with ${bits}-bit samples is not supported (16-bit PCM or 32-bit float).`);
  if (channels < 1 || channels > 8 || sampleRate < 1000) throw new WavFormatError('The WAV header is damaged.');
  return { sampleRate, channels, encoding };
}
