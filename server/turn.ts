import type { AssistantEngine, ChatMessage, FrameImage, LiveTurn, MicSegment } from './assistant/engine.js';
import type { ConversationHistory } from './assistant/history.js';
import { SentenceSplitter } from './assistant/sentence-splitter.js';
import { SpeechPlayback } from './speech-playback.js';
import type { TurnTimeline } from './timeline.js';
import type { Emit } from './protocol.js';
import { setImmediate as nextLoopTurn } from 'node:timers/promises';

/** Longest stretch of reply deltas handled before the event loop gets a turn. */
const MAX_UNBROKEN_MS = 4;

export type TurnInput =
  /** `live`: the same question, streamed to the STT provider while it was spoken (STT_STREAMING). */
  | { kind: 'voice'; segment: MicSegment; live?: LiveTurn }
  | { kind: 'text'; text: string };
export type TurnOutcome = 'answered' | 'no_speech' | 'cancelled';

export interface TurnContext {
  engine: AssistantEngine;
  history: ConversationHistory;
  emit: Emit;
  minSpeechMs: number;
  /** Sentences synthesised ahead of the one playing. */
  speechLookahead: number;
  /** Starts decoding the newest video frame; undefined when there is no video yet. */
  takeSnapshot(signal: AbortSignal): Promise<FrameImage | undefined>;
  /** Hands a reply Opus packet to the paced RTP sender. */
  play(opusPacket: Buffer): void;
  /** Resolves when the sender has played everything queued. */
  whenPlayed(): Promise<void>;
  /** Drops queued packets; returns how many were dropped. */
  flushPlayback(): number;
  onThinking(): void;
  /** The streamed transcription failed and the segment is uploaded instead. */
  onLiveFallback?(error: unknown): void;
}

export const DIDNT_CATCH = "I didn't catch that — hold Space while you speak, then let go.";

/**
 * One question and its answer: segment → transcript → chat (with the frame) → sentences →
 * speech → paced RTP. Cancelling aborts every request in flight and drops queued audio.
 */
export class Turn {
  readonly id: string;
  private readonly controller = new AbortController();
  private playback?: SpeechPlayback;
  private answerSoFar = '';
  private dropped = 0;

  constructor(
    private readonly ctx: TurnContext,
    readonly timeline: TurnTimeline,
    turnNumber: number,
  ) {
    this.id = `t${turnNumber}`;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  cancel(): void {
    if (this.controller.signal.aborted) return;
    this.timeline.mark('cancel');
    this.controller.abort();
    this.dropped += this.ctx.flushPlayback();
  }

  async run(input: TurnInput): Promise<TurnOutcome> {
    const { ctx, timeline, signal } = this;
    let question: string;
    let frame: Promise<FrameImage | undefined>;
    if (input.kind === 'voice') {
      timeline.mark('segmentReady');
      if (input.segment.speechMs < ctx.minSpeechMs) {
        input.live?.discard();
        ctx.emit('notice', { message: DIDNT_CATCH });
        return 'no_speech';
      }
      ctx.onThinking();
      // The transcript is on the critical path, the frame is not: send the STT request first,
      // and start the snapshot (an ffmpeg spawn) once the request is on its way.
      timeline.mark('sttSent');
      const transcript = input.live
        ? this.liveTranscript(input.live, input.segment)
        : ctx.engine.transcriber.transcribe(input.segment, signal);
      frame = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.snapshot());
      question = (await transcript).trim();
      timeline.mark('transcript');
      if (!question) {
        ctx.emit('notice', { message: DIDNT_CATCH });
        return 'no_speech';
      }
    } else {
      ctx.onThinking();
      frame = this.snapshot();
      question = input.text;
    }
    ctx.emit('turn:user', { turnId: this.id, text: question });
    const image = await frame;
    const userMessage: ChatMessage = { role: 'user', text: question, ...(image ? { image } : {}) };
    try {
      await this.answer(userMessage);
    } finally {
      // Whatever happened, history keeps only what the user actually heard.
      ctx.history.addTurn(userMessage, this.spokenText());
    }
    return signal.aborted ? 'cancelled' : 'answered';
  }

  /** The reply's text so far (all of it, spoken or not). */
  get answerText(): string {
    return this.answerSoFar;
  }

  /** The streamed transcript; when the stream failed, the recorded segment is uploaded instead. */
  private async liveTranscript(live: LiveTurn, segment: MicSegment): Promise<string> {
    try {
      return await live.finish(this.signal);
    } catch (error) {
      if (this.signal.aborted) throw error;
      this.timeline.mark('sttFallback');
      this.ctx.onLiveFallback?.(error);
      return this.ctx.engine.transcriber.transcribe(segment, this.signal);
    }
  }

  private snapshot(): Promise<FrameImage | undefined> {
    return this.ctx
      .takeSnapshot(this.signal)
      .then((image) => {
        this.timeline.mark('jpegReady');
        return image;
      })
      .catch(() => undefined);
  }

  private async answer(question: ChatMessage): Promise<void> {
    const { ctx, timeline, signal } = this;
    const playback = new SpeechPlayback({
      speak: (sentence, s) => ctx.engine.speaker.speak(sentence, s),
      play: (packet) => ctx.play(packet),
      lookahead: ctx.speechLookahead,
      signal,
      onSpeechRequested: () => timeline.mark('ttsSent'),
      onFirstSpeechBytes: () => timeline.mark('firstOggPage'),
    });
    this.playback = playback;
    const splitter = new SentenceSplitter();
    const speak = (sentences: string[]) => {
      for (const sentence of sentences) {
        timeline.mark('firstSentence');
        playback.add(sentence);
      }
    };
    try {
      timeline.mark('chatSent');
      const history = ctx.history.forModel();
      let ranSince = performance.now();
      for await (const delta of ctx.engine.chatModel.chat(history, question, signal)) {
        if (signal.aborted) break;
        timeline.mark('firstDelta');
        this.answerSoFar += delta;
        ctx.emit('turn:delta', { turnId: this.id, text: delta });
        speak(splitter.push(delta));
        // A fast model or a buffered stream can hand over hundreds of deltas at once; taken in one
        // go (they resolve as microtasks) they held every session's 20 ms audio clock for up to
        // 80 ms in the 20-session bench. Let timers and I/O run every few milliseconds.
        if (performance.now() - ranSince > MAX_UNBROKEN_MS) {
          await nextLoopTurn();
          ranSince = performance.now();
        }
      }
      if (!signal.aborted) speak(splitter.flush());
    } finally {
      await playback.finish().catch((err: unknown) => {
        if (!signal.aborted) throw err;
      });
    }
    if (!signal.aborted) await ctx.whenPlayed();
    if (!signal.aborted) timeline.mark('lastRtp');
  }

  private spokenText(): string {
    if (!this.signal.aborted) return this.answerSoFar;
    const playback = this.playback;
    if (!playback) return '';
    return playback.sentencesWithin(playback.queuedPackets - this.dropped).join(' ');
  }
}
