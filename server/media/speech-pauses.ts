/**
 * Finds pauses in speech as it streams in, 20 ms at a time: where a live transcription may cut the
 * audio (commit) while the user is still holding Space, so its first words come back before the
 * release. By hand: an energy gate over a tracked noise floor is all this needs (the whole-segment
 * trim in voice-activity.ts works after the fact; a model VAD is issue 8's business).
 */

const FRAME_MS = 20;
/** Nothing quieter than this is speech. */
const SPEECH_FLOOR_DB = -50;
/** Speech stands this far above the quietest recent frames. */
const ABOVE_NOISE_DB = 12;
/** The noise floor forgets a quiet frame after this long (so a noisier room raises it). */
const NOISE_MEMORY_MS = 3000;

export interface PauseDetectorOptions {
  sampleRate: number;
  /** Silence after speech that counts as a pause (OpenAI's server VAD waits 500 ms). */
  pauseMs: number;
  /** Speech needed before a pause counts (coughs and clicks do not). */
  minSpeechMs: number;
}

export class PauseDetector {
  private readonly frameSamples: number;
  private carry: Int16Array = new Int16Array(0);
  private speechMs = 0;
  private silenceMs = 0;
  /** Recent frame energies (dBFS), for the noise floor. */
  private readonly recent: number[] = [];

  constructor(private readonly options: PauseDetectorOptions) {
    this.frameSamples = Math.round((options.sampleRate * FRAME_MS) / 1000);
  }

  /** Whether any speech came since the last pause reported (or since the start). */
  get speechSincePause(): boolean {
    return this.speechMs > 0;
  }

  /**
   * Audio in; true when a pause has just completed (speech, then `pauseMs` of silence). Counting
   * starts again after each pause.
   */
  push(pcm: Int16Array): boolean {
    let samples = pcm;
    if (this.carry.length > 0) {
      samples = new Int16Array(this.carry.length + pcm.length);
      samples.set(this.carry);
      samples.set(pcm, this.carry.length);
    }
    let paused = false;
    let at = 0;
    for (; at + this.frameSamples <= samples.length; at += this.frameSamples) {
      if (this.frame(samples.subarray(at, at + this.frameSamples))) paused = true;
    }
    this.carry = samples.slice(at);
    return paused;
  }

  private frame(frame: Int16Array): boolean {
    let sumOfSquares = 0;
    for (let i = 0; i < frame.length; i++) sumOfSquares += frame[i]! * frame[i]!;
    const db = 10 * Math.log10(sumOfSquares / frame.length / (32768 * 32768) + 1e-12);
    this.recent.push(db);
    if (this.recent.length > NOISE_MEMORY_MS / FRAME_MS) this.recent.shift();
    const floor = Math.min(...this.recent);
    const speech = db > Math.max(SPEECH_FLOOR_DB, floor + ABOVE_NOISE_DB);
    if (speech) {
      this.speechMs += FRAME_MS;
      this.silenceMs = 0;
      return false;
    }
    this.silenceMs += FRAME_MS;
    if (this.speechMs >= this.options.minSpeechMs && this.silenceMs >= this.options.pauseMs) {
      this.speechMs = 0;
      return true;
    }
    return false;
  }
}
