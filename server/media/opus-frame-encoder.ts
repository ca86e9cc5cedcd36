/**
 * PCM of any rate → 48 kHz → 20 ms Opus packets (libopus through @discordjs/opus), as the paced
 * RTP sender wants them, yielded as soon as each frame is whole. For speech that does not arrive
 * as Ogg-Opus (TTS_FORMAT wav/pcm/mp3; later, Realtime PCM16 deltas).
 */
import opus, { type OpusEncoder } from '@discordjs/opus';
import { StreamResampler } from './resampler.js';

export const OPUS_RATE = 48_000;
const FRAME_SAMPLES = 960; // 20 ms at 48 kHz
/** Speech bitrate, as the offline voice uses (ffmpeg libopus -b:a 32k). */
const BITRATE = 32_000;

export class OpusFrameEncoder {
  private readonly encoder: OpusEncoder;
  /** 48 kHz samples waiting for a whole frame. */
  private pending = new Int16Array(FRAME_SAMPLES);
  private pendingLength = 0;

  private constructor(private readonly resampler: StreamResampler | undefined) {
    this.encoder = new opus.OpusEncoder(OPUS_RATE, 1);
    this.encoder.setBitrate(BITRATE);
  }

  /** An encoder for mono PCM at `inputRate` (resampled unless it is already 48 kHz). */
  static async open(inputRate: number): Promise<OpusFrameEncoder> {
    return new OpusFrameEncoder(inputRate === OPUS_RATE ? undefined : await StreamResampler.open(inputRate, OPUS_RATE));
  }

  /** Mono samples (−1…1) in; the Opus packets of every frame now complete out. */
  push(samples: Float32Array): Buffer[] {
    return this.encodeFrames(this.resampler ? this.resampler.process(samples) : samples);
  }

  /** End of the speech: the resampler's tail and a last frame padded with silence. */
  finish(): Buffer[] {
    const packets = this.resampler ? this.encodeFrames(this.resampler.finish()) : [];
    if (this.pendingLength > 0) {
      this.pending.fill(0, this.pendingLength);
      this.pendingLength = FRAME_SAMPLES;
      packets.push(this.encodePending());
    }
    this.close();
    return packets;
  }

  /** Frees the resampler (back to its pool); safe to call more than once. */
  close(): void {
    this.resampler?.release();
  }

  private encodeFrames(samples48k: Float32Array): Buffer[] {
    const packets: Buffer[] = [];
    for (let i = 0; i < samples48k.length; i++) {
      const value = Math.max(-1, Math.min(1, samples48k[i]!));
      this.pending[this.pendingLength++] = Math.round(value * 32767);
      if (this.pendingLength === FRAME_SAMPLES) packets.push(this.encodePending());
    }
    return packets;
  }

  private encodePending(): Buffer {
    const pcm = Buffer.from(this.pending.buffer, this.pending.byteOffset, FRAME_SAMPLES * 2);
    const packet = this.encoder.encode(pcm);
    this.pendingLength = 0;
    return packet;
  }
}
