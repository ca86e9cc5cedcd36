/**
 * The fake's `server_vad` / `semantic_vad` turn detection. The real server uses a trained model;
 * the fake uses energy (a 20 ms frame is speech when louder than SOUND_DBFS), which is enough for
 * the clean test speech it is fed. It keeps the API's timing rules from the session config: speech
 * starts at the first loud frame (`audio_start_ms` is that minus `prefix_padding_ms`, and the
 * committed audio begins there), and stops after `silence_duration_ms` of quiet (`audio_end_ms` is
 * the end of the last loud frame plus that silence, as the API reports it). Positions are ms from
 * the start of all audio appended in the session.
 */
import { SAMPLE_RATE, SOUND_DBFS } from './realtime-common.js';

export interface TurnDetectionConfig {
  prefixPaddingMs: number;
  silenceDurationMs: number;
}

export type VadEvent = { type: 'speech_started'; audioStartMs: number } | { type: 'speech_stopped'; audioEndMs: number };

const FRAME = 480; // 20 ms at 24 kHz
const FRAME_MS = 20;
/** A lone click is not speech: this much loud audio within the first frames starts it. */
const MIN_LOUD_FRAMES = 2;

export class FakeServerVad {
  private carry = new Int16Array(0);
  /** Frames seen in the session. */
  private frames = 0;
  private speaking = false;
  private loudRun = 0;
  private quietFrames = 0;

  constructor(private readonly config: TurnDetectionConfig) {}

  /** Feeds appended PCM; returns the transitions it caused, in order. */
  push(pcm: Int16Array): VadEvent[] {
    const joined = new Int16Array(this.carry.length + pcm.length);
    joined.set(this.carry);
    joined.set(pcm, this.carry.length);
    const events: VadEvent[] = [];
    let at = 0;
    for (; at + FRAME <= joined.length; at += FRAME) {
      const loud = frameDbfs(joined.subarray(at, at + FRAME)) > SOUND_DBFS;
      this.frames++;
      if (!this.speaking) {
        this.loudRun = loud ? this.loudRun + 1 : 0;
        if (this.loudRun >= MIN_LOUD_FRAMES) {
          this.speaking = true;
          this.quietFrames = 0;
          const firstLoudMs = (this.frames - this.loudRun) * FRAME_MS;
          events.push({ type: 'speech_started', audioStartMs: Math.max(0, firstLoudMs - this.config.prefixPaddingMs) });
        }
        continue;
      }
      this.quietFrames = loud ? 0 : this.quietFrames + 1;
      if (this.quietFrames * FRAME_MS >= this.config.silenceDurationMs) {
        this.speaking = false;
        this.loudRun = 0;
        events.push({ type: 'speech_stopped', audioEndMs: this.frames * FRAME_MS });
      }
    }
    this.carry = joined.slice(at);
    return events;
  }

  /** Ms of audio appended so far in the session. */
  get positionMs(): number {
    return this.frames * FRAME_MS + (this.carry.length * 1000) / SAMPLE_RATE;
  }

  /** `input_audio_buffer.clear`: any speech in progress is forgotten. */
  reset(): void {
    this.speaking = false;
    this.loudRun = 0;
    this.quietFrames = 0;
  }
}

function frameDbfs(frame: Int16Array): number {
  let sum = 0;
  for (const sample of frame) sum += sample * sample;
  return 10 * Math.log10(sum / frame.length / (32768 * 32768) + 1e-12);
}
