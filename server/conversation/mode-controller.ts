/**
 * Conversation modes (DESIGN.md "Conversation modes"): push-to-talk (the key starts and ends a
 * turn) or hands-free (the server's VAD does). The policy lives here, apart from the session:
 *
 *   ready, speech for `startSpeechMs` (or going on) → host.startTurn('speech')
 *   thinking/speaking, speech for `bargeInMs`      → host.startTurn('barge-in') (the host cancels the reply)
 *   listening (started by voice), `endSilenceMs`   → host.endTurn()
 *
 * A turn started by the key (Space works in hands-free too) is ended only by the key.
 *
 * For other engines (e.g. a speech-to-speech engine with its own turn detection): `mode` says
 * which mode the page is in, and `onVoice` / `onStep` report what the VAD hears in hands-free,
 * whether or not this controller acts on it (`act: false` leaves turn-taking to the engine).
 */
import { performance } from 'node:perf_hooks';
import type { RtpPacket } from 'werift';
import type { TurnState } from '../protocol.js';
import type { EndpointerSettings, EndpointStep } from './endpointer.js';
import { VoiceListener } from './voice-listener.js';

const WATCHDOG_INTERVAL_MS = 250;
/** No mic audio at all for endSilenceMs plus this ends a voice turn as silence would. */
const NO_AUDIO_GRACE_MS = 500;

export type ConversationMode = 'push-to-talk' | 'hands-free';
export const CONVERSATION_MODES: readonly ConversationMode[] = ['push-to-talk', 'hands-free'];

export interface TurnTakingSettings extends EndpointerSettings {
  /** Speech over a reply longer than this interrupts it (a cough does not). */
  bargeInMs: number;
  /** Audio kept from before the detected start of speech. */
  preRollMs: number;
}

/** What the controller needs from the session. */
export interface ConversationHost {
  state(): TurnState;
  /**
   * Starts listening now, with the audio of the last `preRollMs` first. For a barge-in the host
   * cancels the reply first (as a key press over a reply does).
   */
  startTurn(cause: 'speech' | 'barge-in', preRollMs: number): void;
  /** Ends the turn now; the user stopped speaking `userStoppedMsAgo` ago. */
  endTurn(userStoppedMsAgo: number): void;
}

export interface ModeControllerOptions {
  settings: TurnTakingSettings;
  host: ConversationHost;
  /** The VAD's view changed: the user started (true) or stopped (false) talking. */
  onVoice?(speaking: boolean): void;
  /** Every VAD window in hands-free (~32 ms), for engines that want the raw view. */
  onStep?(step: EndpointStep): void;
  onError?(error: unknown): void;
  /** false: report VAD events only and take no turns (an engine that detects turns itself). */
  act?: boolean;
}

export class ModeController {
  private current: ConversationMode = 'push-to-talk';
  private readonly listener: VoiceListener;
  /** The listening turn was started by voice, so silence may end it. */
  private voiceTurn = false;
  /** When the last VAD window came in (monotonic ms). */
  private lastStepAt = 0;
  /** Ends a voice turn whose audio stopped coming (mic muted, track ended, packets lost). */
  private watchdog?: NodeJS.Timeout;
  private voice = false;

  constructor(private readonly options: ModeControllerOptions) {
    this.listener = new VoiceListener({
      endpointing: options.settings,
      onStep: (step) => this.onStep(step),
      onError: (error) => options.onError?.(error),
    });
  }

  get mode(): ConversationMode {
    return this.current;
  }

  /** Resolves once the mode is in force (hands-free: the VAD model is loaded and listening). */
  async setMode(mode: ConversationMode): Promise<void> {
    if (mode === this.current) return;
    this.current = mode;
    this.setVoiceTurn(false);
    this.setVoice(false);
    if (mode === 'hands-free') await this.listener.start();
    else this.listener.stop();
  }

  pushRtp(rtp: RtpPacket): void {
    this.listener.pushRtp(rtp);
  }

  /** The key started a turn: only the key ends it. */
  keyTurnStarted(): void {
    this.setVoiceTurn(false);
  }

  close(): void {
    this.listener.stop();
    this.setVoiceTurn(false);
  }

  private setVoiceTurn(on: boolean): void {
    this.voiceTurn = on;
    if (!on) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
      return;
    }
    this.watchdog ??= setInterval(() => {
      const quietMs = performance.now() - this.lastStepAt;
      if (quietMs < this.options.settings.endSilenceMs + NO_AUDIO_GRACE_MS) return;
      this.setVoiceTurn(false);
      this.setVoice(false);
      if (this.options.host.state() === 'listening') this.options.host.endTurn(quietMs);
    }, WATCHDOG_INTERVAL_MS);
  }

  private onStep(step: EndpointStep): void {
    const { settings, host } = this.options;
    this.lastStepAt = performance.now();
    this.options.onStep?.(step);
    if (step.event?.type === 'speechStart') this.setVoice(true);
    if (step.event?.type === 'speechEnd') this.setVoice(false);
    if (this.options.act === false || this.current !== 'hands-free') return;

    const state = host.state();
    const preRollMs = step.speechMs + settings.preRollMs;
    if (state === 'ready' && step.inSpeech) {
      this.setVoiceTurn(true);
      host.startTurn('speech', preRollMs);
    } else if ((state === 'thinking' || state === 'speaking') && step.inSpeech && step.speechMs >= settings.bargeInMs) {
      this.setVoiceTurn(true);
      host.startTurn('barge-in', preRollMs);
    } else if (state === 'listening' && this.voiceTurn && step.event?.type === 'speechEnd') {
      this.setVoiceTurn(false);
      host.endTurn(step.event.silenceMs);
    } else if (state !== 'listening' && this.voiceTurn) {
      this.setVoiceTurn(false);
    }
  }

  private setVoice(speaking: boolean): void {
    if (this.voice === speaking) return;
    this.voice = speaking;
    this.options.onVoice?.(speaking);
  }
}
