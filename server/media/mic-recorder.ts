import opus, { type OpusEncoder } from '@discordjs/opus';
import type { RtpPacket } from 'werift';
import type { MicSegment } from '../assistant/engine.js';
import { RtpReorderBuffer } from './rtp-reorder-buffer.js';
import { trimToSpeech } from './voice-activity.js';

/**
 * Output rate of the segment. We ask libopus to decode straight to 16 kHz mono rather than
 * decoding at 48 kHz and resampling: opus_decode supports 8/12/16/24/48 kHz output for any
 * stream (SILK runs natively at ≤16 kHz, CELT is band-limited and decimated inside the decoder)
 * and downmixes stereo itself, so the result is what STT engines want with a third of the samples
 * to produce and no separate resampler (or its filter delay) to maintain.
 */
const SAMPLE_RATE = 16_000;
const RTP_CLOCK_RATE = 48_000; // RFC 7587: Opus RTP always counts 48 kHz ticks
const TICKS_PER_SAMPLE = RTP_CLOCK_RATE / SAMPLE_RATE;
/** Silence kept either side of the speech so word edges and breaths survive the trim. */
export const TRIM_PADDING_MS = 200;
/** How long to wait for a late packet before decoding on without it. */
const REORDER_LATENCY_MS = 100;

export interface MicRecorderOptions {
  /** Longest recording kept; past it audio is dropped and `onMaxHold` fires once. */
  maxHoldMs: number;
  onMaxHold?: () => void;
}

/**
 * Turns the incoming mic RTP of one held-Space turn into a trimmed 16 kHz segment. Between turns
 * `pushRtp` returns at once: nothing is buffered or decoded outside a recording.
 */
export class MicRecorder {
  readonly #maxSamples: number;
  readonly #onMaxHold?: () => void;
  #recording = false;
  #reorderBuffer?: RtpReorderBuffer;
  #decoder?: OpusEncoder;
  /** Decoded audio placed by RTP timestamp; zeros where nothing arrived (DTX, loss). */
  #pcm = new Int16Array(0);
  #writtenSamples = 0;
  #firstRtpTimestamp?: number;
  #maxHoldReached = false;
  #maxHoldToAnnounce = false;
  #level = 0;

  constructor(options: MicRecorderOptions) {
    this.#maxSamples = Math.floor((options.maxHoldMs * SAMPLE_RATE) / 1000);
    this.#onMaxHold = options.onMaxHold;
  }

  get recording(): boolean {
    return this.#recording;
  }

  /** RMS of the latest decoded 20 ms, 0..1 (0 outside a recording). */
  get level(): number {
    return this.#recording ? this.#level : 0;
  }

  /** Audio recorded so far, in ms of media time (gaps included). */
  get recordedMs(): number {
    return (this.#writtenSamples * 1000) / SAMPLE_RATE;
  }

  start(): void {
    // In order so the decoder's state follows the stream; placement itself goes by timestamp.
    this.#reorderBuffer = new RtpReorderBuffer({
      clockRate: RTP_CLOCK_RATE,
      latencyMs: REORDER_LATENCY_MS,
      onPacket: (rtp) => this.#place(rtp),
    });
    this.#decoder = new opus.OpusEncoder(SAMPLE_RATE, 1);
    this.#pcm = new Int16Array(Math.min(SAMPLE_RATE * 4, this.#maxSamples)); // grows by doubling
    this.#writtenSamples = 0;
    this.#firstRtpTimestamp = undefined;
    this.#maxHoldReached = false;
    this.#maxHoldToAnnounce = false;
    this.#level = 0;
    this.#recording = true;
  }

  pushRtp(rtp: RtpPacket): void {
    if (!this.#recording || this.#maxHoldReached || !this.#reorderBuffer) return;
    this.#reorderBuffer.push(rtp);
    // Announced after the reorder buffer returns, so the listener may call stop() right away.
    if (this.#maxHoldToAnnounce) {
      this.#maxHoldToAnnounce = false;
      this.#onMaxHold?.();
    }
  }

  /** Ends the recording and returns it trimmed to the speech (untrimmed when there is none). */
  stop(): MicSegment {
    if (!this.#recording) return { pcm: new Int16Array(0), sampleRate: SAMPLE_RATE, durationMs: 0, speechMs: 0 };
    if (!this.#maxHoldReached) this.#reorderBuffer?.flush(); // packets still waiting for a lost one
    this.#reorderBuffer = undefined;
    this.#decoder = undefined;
    this.#recording = false;

    const recorded = this.#pcm.subarray(0, this.#writtenSamples);
    this.#pcm = new Int16Array(0);
    const trimmed = trimToSpeech(recorded, SAMPLE_RATE, TRIM_PADDING_MS);
    const pcm = trimmed.pcm.slice(); // own copy, so the recording buffer can be freed
    return { pcm, sampleRate: SAMPLE_RATE, durationMs: (pcm.length * 1000) / SAMPLE_RATE, speechMs: trimmed.speechMs };
  }

  #place(rtp: RtpPacket): void {
    if (this.#maxHoldReached || !this.#decoder || !rtp.payload || rtp.payload.length === 0) return;
    const { timestamp } = rtp.header;
    this.#firstRtpTimestamp ??= timestamp;
    const ticksSinceStart = (timestamp - this.#firstRtpTimestamp) >>> 0;
    if (ticksSinceStart >= 2 ** 31) return; // older than the first packet of the turn
    const position = Math.round(ticksSinceStart / TICKS_PER_SAMPLE);

    let decoded: Int16Array;
    try {
      const bytes = this.#decoder.decode(rtp.payload);
      decoded = new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    } catch {
      return; // a corrupt packet is a short silence, not a failed turn
    }

    const room = this.#maxSamples - position;
    const kept = Math.max(0, Math.min(decoded.length, room));
    if (kept > 0) {
      this.#ensureCapacity(position + kept);
      this.#pcm.set(kept === decoded.length ? decoded : decoded.subarray(0, kept), position);
      this.#writtenSamples = Math.max(this.#writtenSamples, position + kept);
      this.#level = rms(decoded);
    }
    if (kept < decoded.length || position + kept >= this.#maxSamples) {
      this.#maxHoldReached = true;
      this.#maxHoldToAnnounce = true;
    }
  }

  #ensureCapacity(samples: number): void {
    if (samples <= this.#pcm.length) return;
    const grown = new Int16Array(Math.min(this.#maxSamples, Math.max(samples, this.#pcm.length * 2)));
    grown.set(this.#pcm.subarray(0, this.#writtenSamples));
    this.#pcm = grown;
  }
}

function rms(samples: Int16Array): number {
  let sumOfSquares = 0;
  for (let i = 0; i < samples.length; i++) sumOfSquares += samples[i] * samples[i];
  return samples.length === 0 ? 0 : Math.sqrt(sumOfSquares / samples.length) / 32768;
}
