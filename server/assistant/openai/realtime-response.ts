/**
 * One reply of a speech-to-speech Realtime conversation: the events of its commit, its user
 * transcript and its response (matched by item and response id, so a late `response.done` of a
 * cancelled reply never reaches the next one), and its cancel: `response.cancel` while it is being
 * generated, `conversation.item.truncate` at the audio the user actually heard.
 */
import type { RealtimeClientEvent, RealtimeError, RealtimeServerEvent } from 'openai/resources/realtime/realtime';
import { LIVE_SAMPLE_RATE, type EngineError, type SpeechToSpeechHandlers, type SpeechToSpeechReply } from '../engine.js';

type Outcome = 'completed' | 'cancelled' | 'nothing_heard';

export interface RealtimeResponseOptions {
  handlers: SpeechToSpeechHandlers;
  send(event: RealtimeClientEvent): void;
  failure(error: Partial<RealtimeError>): EngineError;
  /** The turn is over: what the user asked and the part of the answer they heard, for a reopened session. */
  onHeard(question: string, heardAnswer: string): void;
}

export class RealtimeResponse implements SpeechToSpeechReply {
  readonly done: Promise<Outcome>;
  /** The user's question: their transcript, or the typed text. */
  question = '';
  /** `response.create` went out and `response.created` has not been matched to it yet. */
  awaitingCreated = false;
  private settle!: { resolve(outcome: Outcome): void; reject(error: EngineError): void };
  private isSettled = false;
  private finished = false;
  private awaitingCommit = false;
  private userItemId?: string;
  private responseId?: string;
  private itemId?: string;
  private answer = '';
  private audioSamples = 0;
  private generating = false;
  private cancelled = false;
  private heardMs?: number;

  constructor(private readonly options: RealtimeResponseOptions) {
    this.done = new Promise<Outcome>((resolve, reject) => (this.settle = { resolve, reject }));
    this.done.catch(() => undefined);
  }

  get handlers(): SpeechToSpeechHandlers {
    return this.options.handlers;
  }

  get settled(): boolean {
    return this.isSettled;
  }

  /** Whether this reply still wants events (its `response.done` has not come, the socket is up). */
  get live(): boolean {
    return !this.finished;
  }

  get id(): string | undefined {
    return this.responseId;
  }

  get awaitsCommit(): boolean {
    return this.awaitingCommit;
  }

  /** The question is a user item the server committed; its transcript may have come already. */
  answersItem(itemId: string, transcript?: string): void {
    this.userItemId = itemId;
    if (transcript) {
      this.question = transcript;
      queueMicrotask(() => this.options.handlers.onUserTranscript?.(transcript));
    }
  }

  expectCommit(): void {
    this.awaitingCommit = true;
  }

  requested(): void {
    this.awaitingCreated = true;
  }

  /** The `response.created` of the `response.create` this reply sent. */
  created(responseId: string): void {
    this.awaitingCreated = false;
    this.responseId = responseId;
    this.generating = true;
    if (this.cancelled) this.options.send({ type: 'response.cancel', response_id: responseId });
  }

  onEvent(event: RealtimeServerEvent): void {
    const { handlers } = this.options;
    switch (event.type) {
      case 'input_audio_buffer.committed':
        if (!this.awaitingCommit) return;
        this.awaitingCommit = false;
        this.userItemId = event.item_id;
        return;
      case 'conversation.item.input_audio_transcription.completed':
        if (event.item_id !== this.userItemId) return;
        this.question = event.transcript.trim();
        handlers.onUserTranscript?.(this.question);
        return this.reportHeard();
      case 'response.output_item.added':
        if (event.response_id !== this.responseId || event.item.type !== 'message') return;
        this.itemId = event.item.id;
        if (this.cancelled) this.truncate();
        return;
      case 'response.output_audio.delta': {
        if (event.response_id !== this.responseId || this.cancelled) return;
        const bytes = Buffer.from(event.delta, 'base64');
        const pcm = new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + (bytes.length & ~1)));
        this.audioSamples += pcm.length;
        handlers.onAudio(pcm);
        return;
      }
      case 'response.output_audio_transcript.delta':
        if (event.response_id !== this.responseId || this.cancelled) return;
        this.answer += event.delta;
        handlers.onTranscriptDelta(event.delta);
        return;
      case 'response.done': {
        if (event.response.id !== this.responseId) return;
        this.generating = false;
        this.finished = true;
        const status = event.response.status;
        if (status === 'failed') this.fail(this.options.failure(event.response.status_details?.error ?? { message: 'the response failed' }));
        else this.resolve(status === 'cancelled' ? 'cancelled' : 'completed');
        return this.reportHeard();
      }
      default:
        return;
    }
  }

  /** An `error` event while this reply was the newest. */
  onError(error: RealtimeError, failure: EngineError): void {
    if (error.code === 'response_cancel_not_active') return; // it had just finished: nothing to stop
    if (error.code === 'input_audio_buffer_commit_empty' && this.awaitingCommit) {
      // Nothing to answer; the response asked for after the commit is stopped when it starts.
      this.awaitingCommit = false;
      this.cancelled = true;
      this.heardMs = 0;
      return this.resolve('nothing_heard');
    }
    this.fail(failure);
  }

  cancel(playedMs: number): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.heardMs = Math.max(0, Math.min(playedMs, this.audioMs));
    if (this.generating && this.responseId) this.options.send({ type: 'response.cancel', response_id: this.responseId });
    this.truncate();
    this.resolve('cancelled');
    this.reportHeard();
  }

  /** The socket closed, or the request could not be sent. */
  fail(error: EngineError): void {
    this.finished = true;
    if (this.isSettled) return;
    this.isSettled = true;
    this.settle.reject(error);
  }

  private get audioMs(): number {
    return (this.audioSamples * 1000) / LIVE_SAMPLE_RATE;
  }

  private truncate(): void {
    if (!this.itemId) return;
    const heardMs = Math.floor(Math.min(this.heardMs ?? 0, this.audioMs));
    this.options.send({ type: 'conversation.item.truncate', item_id: this.itemId, content_index: 0, audio_end_ms: heardMs });
  }

  private resolve(outcome: Outcome): void {
    if (this.isSettled) return;
    this.isSettled = true;
    this.settle.resolve(outcome);
  }

  /** The words heard: all of them, or on a cancel the share of the transcript the played audio covers. */
  heardAnswer(): string {
    if (!this.cancelled) return this.answer;
    const audioMs = this.audioMs;
    if (audioMs === 0 || !this.heardMs) return '';
    const words = this.answer.match(/\s*\S+/g) ?? [];
    return words.slice(0, Math.floor((words.length * this.heardMs) / audioMs)).join('').trim();
  }

  private reported = false;
  private reportHeard(): void {
    if (this.reported || !this.isSettled) return;
    if (this.userItemId && !this.question) return; // the user's words are still being transcribed
    this.reported = true;
    this.options.onHeard(this.question, this.heardAnswer());
  }
}
