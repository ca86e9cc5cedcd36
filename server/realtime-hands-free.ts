import type { ServerTurnDetection } from './assistant/engine.js';
import type { TurnState } from './protocol.js';

export interface RealtimeHandsFreeSettings {
  threshold: number;
  prefixPaddingMs: number;
  endSilenceMs: number;
  /** Speech over a reply must last this long before it stops the reply. */
  bargeInMs: number;
  /** Shorter speech is not a question (its item is dropped). */
  minSpeechMs: number;
}

export interface RealtimeHandsFreeHost {
  state(): TurnState;
  /** The page's "hearing you" indicator. */
  onVoice(speaking: boolean): void;
  /** The user is talking (no reply is on, or the reply was just stopped). */
  listening(): void;
  /** Stops the reply (its turn's cancel: `response.cancel`, truncate at the audio played). */
  bargeIn(): void;
  /** Answer the user item the server committed. */
  answer(itemId: string): void;
  /** Forget a committed item that is not answered. */
  drop(itemId: string): void;
  /** Nothing became of the speech (too short): back to ready. */
  idle(): void;
  /** Appends this much silence to the server's input audio. */
  appendSilence(ms: number): void;
}

/** Mic audio missing this long during speech is a muted or ended track: the server hears silence. */
const NO_AUDIO_MS = 200;
const WATCHDOG_MS = 100;

/**
 * Hands-free on the speech-to-speech engine: the Realtime server's turn detection (see
 * RealtimeConversation) says when speech starts, stops and is committed; this decides what that
 * means for the call. Speech over a reply stops it only once it has lasted `bargeInMs` (a cough
 * that stops sooner is dropped and the reply plays on); a committed turn is answered.
 */
export class RealtimeHandsFree {
  private bargeInTimer?: NodeJS.Timeout;
  /** The current speech began while a reply was on and has not (yet) stopped it. */
  private overReply = false;
  private startMs = 0;
  private speechMs = 0;
  private lastAudioAt = 0;
  private watchdog?: NodeJS.Timeout;

  constructor(
    private readonly settings: RealtimeHandsFreeSettings,
    private readonly host: RealtimeHandsFreeHost,
  ) {}

  /** What the session asks of the server. */
  get detection(): ServerTurnDetection {
    const { threshold, prefixPaddingMs, endSilenceMs } = this.settings;
    return {
      threshold,
      prefixPaddingMs,
      silenceMs: endSilenceMs,
      onSpeechStarted: (audioStartMs) => this.speechStarted(audioStartMs),
      onSpeechStopped: (audioEndMs) => this.speechStopped(audioEndMs),
      onCommitted: (itemId) => this.committed(itemId),
    };
  }

  stop(): void {
    clearTimeout(this.bargeInTimer);
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    this.overReply = false;
  }

  /** Mic audio went to the server just now. */
  heard(): void {
    this.lastAudioAt = performance.now();
  }

  /**
   * The server's turn detection ends a turn only on the silence it hears; a mic whose packets stop
   * coming mid-speech (muted, track ended) would leave it waiting, so the gap goes in as silence.
   */
  private watchAudio(on: boolean): void {
    clearInterval(this.watchdog);
    this.watchdog = undefined;
    if (!on) return;
    this.lastAudioAt = performance.now();
    this.watchdog = setInterval(() => {
      const now = performance.now();
      if (now - this.lastAudioAt < NO_AUDIO_MS) return;
      this.host.appendSilence(Math.round(now - this.lastAudioAt));
      this.lastAudioAt = now;
    }, WATCHDOG_MS);
    this.watchdog.unref();
  }

  private speechStarted(audioStartMs: number): void {
    const { host, settings } = this;
    this.startMs = audioStartMs + settings.prefixPaddingMs;
    host.onVoice(true);
    this.watchAudio(true);
    const state = host.state();
    if (state === 'thinking' || state === 'speaking') {
      this.overReply = true;
      clearTimeout(this.bargeInTimer);
      this.bargeInTimer = setTimeout(() => {
        this.overReply = false;
        host.bargeIn();
        host.listening();
      }, settings.bargeInMs);
      return;
    }
    host.listening();
  }

  private speechStopped(audioEndMs: number): void {
    clearTimeout(this.bargeInTimer);
    this.watchAudio(false);
    this.speechMs = Math.max(0, audioEndMs - this.settings.endSilenceMs - this.startMs);
    this.host.onVoice(false);
  }

  private committed(itemId: string): void {
    const { host } = this;
    if (this.overReply) {
      this.overReply = false;
      return host.drop(itemId);
    }
    if (this.speechMs < this.settings.minSpeechMs) {
      host.drop(itemId);
      if (host.state() === 'listening') host.idle();
      return;
    }
    host.answer(itemId);
  }
}
