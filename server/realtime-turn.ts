import type { ChatMessage, FrameImage, SpeechToSpeechCall } from './assistant/engine.js';
import { EngineAbortError } from './assistant/openai/errors.js';
import { OpusFrameEncoder } from './media/opus-frame-encoder.js';
import { PCM_SAMPLE_RATE } from './media/speech-transcoder.js';
import type { TurnTimeline } from './timeline.js';
import { DIDNT_CATCH, type TurnContext, type TurnInput, type TurnOutcome } from './turn.js';

/** Every reply packet our encoder makes is one 20 ms Opus frame. */
const PACKET_MS = 20;
/** After the reply, how long its user transcript may still take (it is shown and kept in history). */
const USER_TRANSCRIPT_GRACE_MS = 3000;

/** A spoken or typed question, or (hands-free) the user item the server's turn detection committed. */
export type RealtimeTurnInput = TurnInput | { kind: 'committed'; itemId: string };

/** A cascade turn's media and history hooks, with the call's Realtime conversation for the engine. */
export type RealtimeTurnContext = Pick<
  TurnContext,
  'history' | 'emit' | 'minSpeechMs' | 'takeSnapshot' | 'play' | 'whenPlayed' | 'flushPlayback' | 'onThinking'
> & { call: SpeechToSpeechCall };

/**
 * One question and its answer on the speech-to-speech engine: the audio already appended is
 * committed at release, the newest frame goes in, and the model's own voice (PCM16 24 kHz deltas)
 * is resampled to 48 kHz, encoded to 20 ms Opus and handed to the paced sender as it arrives.
 * A cancel drops the queued packets and tells the model how much of its audio was heard.
 * Same face as Turn, so the session drives either.
 */
export class RealtimeTurn {
  readonly id: string;
  private readonly controller = new AbortController();
  private answerSoFar = '';
  private question = '';
  private packetsQueued = 0;
  private dropped = 0;
  private heardMs?: number;
  private reply?: ReturnType<SpeechToSpeechCall['respond']>;

  constructor(
    private readonly ctx: RealtimeTurnContext,
    readonly timeline: TurnTimeline,
    turnNumber: number,
  ) {
    this.id = `t${turnNumber}`;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get answerText(): string {
    return this.answerSoFar;
  }

  cancel(): void {
    if (this.controller.signal.aborted) return;
    this.timeline.mark('cancel');
    this.dropped += this.ctx.flushPlayback();
    this.heardMs = (this.packetsQueued - this.dropped) * PACKET_MS;
    this.reply?.cancel(this.heardMs);
    this.controller.abort();
  }

  async run(input: RealtimeTurnInput): Promise<TurnOutcome> {
    const { ctx, timeline, signal } = this;
    if (input.kind === 'voice') {
      timeline.mark('segmentReady');
      input.live?.discard();
      if (input.segment.speechMs < ctx.minSpeechMs) {
        ctx.call.clearAudio();
        ctx.emit('notice', { message: DIDNT_CATCH });
        return 'no_speech';
      }
    } else if (input.kind === 'text') {
      this.question = input.text;
      ctx.emit('turn:user', { turnId: this.id, text: input.text });
    }
    ctx.onThinking();
    const encoder = await OpusFrameEncoder.open(PCM_SAMPLE_RATE);
    // The commit is on the critical path, the frame is not yet: commit first, then start the
    // snapshot (an ffmpeg decode) once the commit is on its way; the response waits for it.
    let startSnapshot: () => void = () => {};
    const image = new Promise<void>((resolve) => (startSnapshot = resolve)).then(() => this.snapshot());
    let userShown: () => void = () => {};
    const userTranscript = new Promise<void>((resolve) => (userShown = resolve));
    try {
      const reply = ctx.call.respond(
        {
          ...(input.kind === 'voice' ? { commit: true }
          : input.kind === 'committed' ? { committedItemId: input.itemId }
          : { text: input.text }),
          image,
        },
        {
          onCommitSent: () => timeline.mark('commitSent'),
          onResponseRequested: () => timeline.mark('responseSent'),
          onUserTranscript: (text) => {
            timeline.mark('transcript');
            this.question = text;
            if (text) ctx.emit('turn:user', { turnId: this.id, text });
            userShown();
          },
          onAudio: (pcm) => {
            if (signal.aborted) return;
            timeline.mark('firstAudioDelta');
            const samples = new Float32Array(pcm.length);
            for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i]! / 32768;
            this.play(encoder.push(samples));
          },
          onTranscriptDelta: (text) => {
            if (signal.aborted) return;
            timeline.mark('firstDelta');
            this.answerSoFar += text;
            ctx.emit('turn:delta', { turnId: this.id, text });
          },
        },
      );
      this.reply = reply;
      setImmediate(startSnapshot);
      if (signal.aborted) reply.cancel(0);
      const outcome = await untilAborted(reply.done, signal);
      if (outcome === 'nothing_heard') {
        ctx.emit('notice', { message: DIDNT_CATCH });
        return 'no_speech';
      }
      this.play(encoder.finish());
      if (input.kind !== 'text') await Promise.race([userTranscript, sleep(USER_TRANSCRIPT_GRACE_MS, signal)]);
      await untilAborted(ctx.whenPlayed(), signal);
      timeline.mark('lastRtp');
      return 'answered';
    } catch (error) {
      if (signal.aborted) return 'cancelled';
      throw error;
    } finally {
      encoder.close();
      startSnapshot();
      const frame = await image;
      const question: ChatMessage = { role: 'user', text: this.question, ...(frame ? { image: frame } : {}) };
      if (this.question || this.answerSoFar) ctx.history.addTurn(question, this.spokenText());
    }
  }

  private play(packets: Buffer[]): void {
    for (const packet of packets) {
      this.ctx.play(packet);
      this.packetsQueued++;
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

  /** What the user heard: all of it, or after a cancel the share of the words the played audio covers. */
  private spokenText(): string {
    if (this.heardMs === undefined) return this.answerSoFar;
    const receivedMs = this.packetsQueued * PACKET_MS;
    if (receivedMs === 0) return '';
    const words = this.answerSoFar.match(/\s*\S+/g) ?? [];
    return words.slice(0, Math.floor((words.length * Math.min(1, this.heardMs / receivedMs)))).join('').trim();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}

function untilAborted<T>(pending: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new EngineAbortError(signal.reason));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (value) => (signal.removeEventListener('abort', onAbort), resolve(value)),
      (error: unknown) => (signal.removeEventListener('abort', onAbort), reject(error)),
    );
  });
}
