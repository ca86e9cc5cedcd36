/**
 * TTS audio in whatever format the server sends (TTS_FORMAT) → Opus packets for the paced RTP
 * sender, streamed: each packet is yielded as soon as its 20 ms are decoded, resampled and
 * encoded, never after the whole response. Ogg-Opus is only demuxed (no transcode).
 */
import { MPEGDecoder } from 'mpg123-decoder';
import { setImmediate as nextLoopTurn } from 'node:timers/promises';
import { demuxOggOpus } from './ogg-opus-demuxer.js';
import { OpusFrameEncoder } from './opus-frame-encoder.js';
import { WavStreamReader } from './wav-stream-reader.js';

export type SpeechFormat = 'opus' | 'wav' | 'pcm' | 'mp3';

/** OpenAI's `pcm`: raw 24 kHz, 16-bit little-endian, mono. */
export const PCM_SAMPLE_RATE = 24_000;
/** Input handled before the event loop (and the 20 ms audio clock) gets a turn. */
const MAX_BYTES_PER_STEP = 8192;
const MAX_UNBROKEN_MS = 4;

/** Speech bytes that are not what they were said to be (a refused or ignored TTS_FORMAT). */
export class SpeechFormatError extends Error {
  override name = 'SpeechFormatError';
}

/** Turns one format's bytes into mono samples (−1…1) at `sampleRate`, known once audio arrives. */
interface SampleDecoder {
  readonly sampleRate: number | undefined;
  push(chunk: Buffer): Float32Array;
  end(): Float32Array;
  free(): void;
}

class PcmDecoder implements SampleDecoder {
  readonly sampleRate = PCM_SAMPLE_RATE;
  private oddByte?: number;

  push(chunk: Buffer): Float32Array {
    let bytes = chunk;
    if (this.oddByte !== undefined) {
      bytes = Buffer.concat([Buffer.of(this.oddByte), chunk]);
      this.oddByte = undefined;
    }
    const samples = new Float32Array(bytes.length >> 1);
    for (let i = 0; i < samples.length; i++) samples[i] = bytes.readInt16LE(i * 2) / 32768;
    if (bytes.length % 2 === 1) this.oddByte = bytes[bytes.length - 1];
    return samples;
  }
  end(): Float32Array {
    return new Float32Array(0);
  }
  free(): void {}
}

class WavDecoder implements SampleDecoder {
  private readonly reader = new WavStreamReader();
  get sampleRate(): number | undefined {
    return this.reader.wavFormat?.sampleRate;
  }
  push(chunk: Buffer): Float32Array {
    try {
      return this.reader.push(chunk);
    } catch (error) {
      throw new SpeechFormatError(error instanceof Error ? error.message : String(error));
    }
  }
  end(): Float32Array {
    try {
      this.reader.end();
    } catch (error) {
      throw new SpeechFormatError(error instanceof Error ? error.message : String(error));
    }
    return new Float32Array(0);
  }
  free(): void {}
}

/** MP3 through mpg123 (WebAssembly, mpg123-decoder): frames decode as they complete. */
class Mp3Decoder implements SampleDecoder {
  sampleRate: number | undefined;
  private decodedAny = false;
  private bytesIn = 0;

  private constructor(private readonly decoder: MPEGDecoder) {}

  static async open(): Promise<Mp3Decoder> {
    const decoder = new MPEGDecoder();
    await decoder.ready;
    return new Mp3Decoder(decoder);
  }

  push(chunk: Buffer): Float32Array {
    this.bytesIn += chunk.length;
    const decoded = this.decoder.decode(chunk);
    if (decoded.samplesDecoded === 0) {
      if (!this.decodedAny && this.bytesIn > 16_384) throw new SpeechFormatError('The audio is not MP3 (no MPEG frame in the first 16 KB).');
      return new Float32Array(0);
    }
    this.decodedAny = true;
    this.sampleRate ??= decoded.sampleRate;
    return downmix(decoded.channelData, decoded.samplesDecoded);
  }
  end(): Float32Array {
    if (!this.decodedAny) throw new SpeechFormatError('The audio is not MP3 (no MPEG frame decoded).');
    return new Float32Array(0);
  }
  free(): void {
    this.decoder.free();
  }
}

function downmix(channels: readonly Float32Array[], length: number): Float32Array {
  if (channels.length === 1) return channels[0]!.slice(0, length);
  const mono = new Float32Array(length);
  for (const channel of channels) for (let i = 0; i < length; i++) mono[i]! += channel[i]! / channels.length;
  return mono;
}

/**
 * The Opus packets of one sentence's speech in `format`. Throws SpeechFormatError when the bytes
 * are not that format (a server that ignored TTS_FORMAT).
 */
export async function* speechToOpus(bytes: AsyncIterable<Buffer>, format: SpeechFormat): AsyncGenerator<Buffer, void, undefined> {
  if (format === 'opus') {
    let packets = 0;
    try {
      for await (const packet of demuxOggOpus(bytes)) {
        packets++;
        yield packet;
      }
    } catch (error) {
      // Before the first packet, a demux failure means the bytes were never Ogg-Opus.
      if (packets > 0) throw error;
      throw new SpeechFormatError(`not Ogg-Opus: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    return;
  }
  const decoder: SampleDecoder = format === 'mp3' ? await Mp3Decoder.open() : format === 'wav' ? new WavDecoder() : new PcmDecoder();
  let encoder: OpusFrameEncoder | undefined;
  let ranSince = performance.now();
  try {
    const encode = async (samples: Float32Array): Promise<Buffer[]> => {
      if (samples.length === 0) return [];
      encoder ??= await OpusFrameEncoder.open(decoder.sampleRate!);
      return encoder.push(samples);
    };
    for await (const chunk of bytes) {
      for (let at = 0; at < chunk.length; at += MAX_BYTES_PER_STEP) {
        yield* await encode(decoder.push(chunk.subarray(at, at + MAX_BYTES_PER_STEP)));
        if (performance.now() - ranSince > MAX_UNBROKEN_MS) {
          await nextLoopTurn();
          ranSince = performance.now();
        }
      }
    }
    yield* await encode(decoder.end());
    if (encoder) yield* encoder.finish();
  } finally {
    encoder?.close();
    decoder.free();
  }
}
