import opus, { type OpusEncoder } from '@discordjs/opus';
import type { RtpPacket } from 'werift';
import { RtpReorderBuffer } from './rtp-reorder-buffer.js';

const RTP_CLOCK_RATE = 48_000; // RFC 7587: Opus RTP always counts 48 kHz ticks
const REORDER_LATENCY_MS = 60;
/** A longer gap (DTX, a stalled track) is passed on as this much silence at most. */
const MAX_GAP_MS = 1000;

export interface MicPcmStreamOptions {
  /** An Opus decoder rate: 8000, 12000, 16000, 24000 or 48000 (libopus resamples internally). */
  sampleRate: number;
  /** Mono PCM in media order, gaps (DTX, loss) filled with silence. */
  onPcm(pcm: Int16Array): void;
}

/**
 * The incoming mic as a live PCM stream while started: RTP put back in order, decoded by libopus
 * straight to the rate the consumer wants (24 kHz for OpenAI Realtime), handed on packet by
 * packet. Unlike MicRecorder it keeps nothing: what it decodes goes to `onPcm` at once.
 */
export class MicPcmStream {
  readonly #options: MicPcmStreamOptions;
  readonly #ticksPerSample: number;
  #reorderBuffer?: RtpReorderBuffer;
  #decoder?: OpusEncoder;
  /** RTP timestamp the next packet should have. */
  #nextTimestamp?: number;

  constructor(options: MicPcmStreamOptions) {
    this.#options = options;
    this.#ticksPerSample = RTP_CLOCK_RATE / options.sampleRate;
  }

  get started(): boolean {
    return this.#decoder !== undefined;
  }

  start(): void {
    this.#reorderBuffer = new RtpReorderBuffer({ clockRate: RTP_CLOCK_RATE, latencyMs: REORDER_LATENCY_MS, onPacket: (rtp) => this.#decode(rtp) });
    this.#decoder = new opus.OpusEncoder(this.#options.sampleRate, 1);
    this.#nextTimestamp = undefined;
  }

  pushRtp(rtp: RtpPacket): void {
    this.#reorderBuffer?.push(rtp);
  }

  /** Hands on what the reorder buffer still holds, then stops. */
  stop(): void {
    this.#reorderBuffer?.flush();
    this.#reorderBuffer = undefined;
    this.#decoder = undefined;
  }

  #decode(rtp: RtpPacket): void {
    if (!this.#decoder || !rtp.payload || rtp.payload.length === 0) return;
    const { timestamp } = rtp.header;
    if (this.#nextTimestamp !== undefined) {
      const gapTicks = (timestamp - this.#nextTimestamp) >>> 0;
      if (gapTicks >= 2 ** 31) return; // older than what was already passed on
      const gapSamples = Math.min(Math.round(gapTicks / this.#ticksPerSample), (this.#options.sampleRate * MAX_GAP_MS) / 1000);
      if (gapSamples > 0) this.#options.onPcm(new Int16Array(gapSamples));
    }
    let pcm: Int16Array;
    try {
      const bytes = this.#decoder.decode(rtp.payload);
      pcm = new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    } catch {
      return; // a corrupt packet: the next one's gap fills its place with silence
    }
    this.#nextTimestamp = (timestamp + pcm.length * this.#ticksPerSample) >>> 0;
    this.#options.onPcm(pcm);
  }
}
