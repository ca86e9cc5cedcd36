/**
 * Endpointing over a stream of VAD speech probabilities (one per window): when has the user
 * started talking, and when have they finished. Pure and clock-free: time is counted in the
 * windows' media time, so it runs the same on recorded audio (scripts/measure-endpointing.ts)
 * and on a live call.
 *
 * Hysteresis as in Silero's own `get_speech_timestamps`: a window is speech at ≥ `threshold`,
 * and speech goes on until the probability falls below `threshold − 0.15`.
 */

export interface EndpointerSettings {
  /** Speech probability that starts speech (Silero's default 0.5). */
  threshold: number;
  /** This much speech in one run starts a turn (shorter bursts — a click, a cough — do not). */
  startSpeechMs: number;
  /** This much silence after speech ends the turn. */
  endSilenceMs: number;
}

export type EndpointEvent =
  /** `speechMs`: how long ago (media time) the speech run began, so the audio can start there. */
  | { type: 'speechStart'; speechMs: number }
  /** `silenceMs`: how long ago the user stopped speaking. */
  | { type: 'speechEnd'; silenceMs: number; speechMs: number };

export interface EndpointStep {
  event?: EndpointEvent;
  /** Whether the user is talking (a started turn not yet ended by silence). */
  inSpeech: boolean;
  /**
   * Length of the current speech from its first to its latest voiced window (silence after it not
   * counted), 0 when not in speech.
   */
  speechMs: number;
}

const HYSTERESIS = 0.15;

export class Endpointer {
  private readonly release: number;
  /** Voiced run not yet long enough to be speech. */
  private candidateMs = 0;
  private inSpeech = false;
  private speechMs = 0;
  private silenceMs = 0;

  constructor(
    private readonly settings: EndpointerSettings,
    private readonly windowMs: number,
  ) {
    this.release = Math.max(0.01, settings.threshold - HYSTERESIS);
  }

  get speaking(): boolean {
    return this.inSpeech;
  }

  push(probability: number): EndpointStep {
    const { windowMs, settings } = this;
    if (!this.inSpeech) {
      if (probability >= settings.threshold || (this.candidateMs > 0 && probability >= this.release)) {
        this.candidateMs += windowMs;
      } else {
        this.candidateMs = 0;
      }
      if (this.candidateMs >= settings.startSpeechMs && this.candidateMs > 0) {
        this.inSpeech = true;
        this.speechMs = this.candidateMs;
        this.silenceMs = 0;
        this.candidateMs = 0;
        return { event: { type: 'speechStart', speechMs: this.speechMs }, inSpeech: true, speechMs: this.speechMs };
      }
      return { inSpeech: false, speechMs: 0 };
    }

    this.speechMs += windowMs;
    if (probability >= settings.threshold) this.silenceMs = 0;
    else if (probability < this.release || this.silenceMs > 0) this.silenceMs += windowMs;
    if (this.silenceMs >= settings.endSilenceMs) {
      const event: EndpointEvent = { type: 'speechEnd', silenceMs: this.silenceMs, speechMs: this.speechMs - this.silenceMs };
      this.reset();
      return { event, inSpeech: false, speechMs: 0 };
    }
    return { inSpeech: true, speechMs: this.speechMs - this.silenceMs };
  }

  /** Back to "nobody is talking" (e.g. when the mode changes). */
  reset(): void {
    this.inSpeech = false;
    this.candidateMs = 0;
    this.speechMs = 0;
    this.silenceMs = 0;
  }
}
