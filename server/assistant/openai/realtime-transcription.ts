/**
 * Streamed speech-to-text over an OpenAI Realtime transcription session
 * (`<base>/realtime?intent=transcription`): while Space is held the mic audio (24 kHz PCM16) is
 * appended, the buffer is committed at each pause (so the first words come back while the user
 * is still talking) and at release, and the completed transcripts of the commits, in order, are
 * the question. Turn detection on the server is off: every commit is ours, so each gets exactly
 * one answer (`input_audio_buffer.committed`, or an `input_audio_buffer_commit_empty` error) and
 * nothing is committed behind our back.
 *
 * One connection per browser session: opened at the first talk, kept for the next turns and
 * closed after IDLE_CLOSE_MS without one (or when the session ends). A connection that failed,
 * or whose turn was dropped half-way, is never reused.
 */
import type { RealtimeClientEvent, RealtimeServerEvent } from 'openai/resources/realtime/realtime';
import { PauseDetector } from '../../media/speech-pauses.js';
import { LIVE_SAMPLE_RATE, type LiveTranscriber, type LiveTurn } from '../engine.js';
import { EngineAbortError } from './errors.js';
import { RealtimeSocket, pcm16AppendAudio, realtimeURL } from './realtime-socket.js';

export interface RealtimeTranscriberOptions {
  baseURL: string;
  apiKey?: string;
  /** The transcription model (STT_MODEL), set with `session.update`. */
  model: string;
  /** Opening the socket, and waiting for the transcript after release, give up after this. */
  timeoutMs: number;
  idleCloseMs?: number;
}

export const IDLE_CLOSE_MS = 30_000;
/** Appends are batched to this much audio (10 events a second, not 50). */
const APPEND_SAMPLES = LIVE_SAMPLE_RATE / 10;
/** The API refuses to commit less than 100 ms. */
const MIN_COMMIT_SAMPLES = LIVE_SAMPLE_RATE / 10;
const PAUSE = { pauseMs: 500, minSpeechMs: 300 };

/** The streamed transcription failed; the caller uploads the segment instead. */
export class LiveTranscriptionError extends Error {
  override name = 'LiveTranscriptionError';
}

export class RealtimeTranscriber implements LiveTranscriber {
  private connection?: TranscriptionConnection;
  private idleTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: RealtimeTranscriberOptions) {}

  begin(onPartial: (textSoFar: string) => void): LiveTurn {
    clearTimeout(this.idleTimer);
    if (this.closed) throw new LiveTranscriptionError('The live transcriber is closed.');
    if (!this.connection?.reusable) {
      this.connection?.close();
      this.connection = new TranscriptionConnection(this.options);
    }
    const connection = this.connection;
    return connection.beginTurn(onPartial, () => this.turnEnded(connection));
  }

  /** Whether a connection is open or opening (for tests). */
  get connected(): boolean {
    return this.connection !== undefined && !this.connection.failed;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.connection?.close();
    this.connection = undefined;
  }

  private turnEnded(connection: TranscriptionConnection): void {
    if (connection !== this.connection) return;
    if (!connection.reusable) {
      connection.close();
      this.connection = undefined;
      return;
    }
    this.idleTimer = setTimeout(() => {
      if (this.connection !== connection) return;
      connection.close();
      this.connection = undefined;
    }, this.options.idleCloseMs ?? IDLE_CLOSE_MS);
    this.idleTimer.unref();
  }
}

/** One Realtime socket and its session; events for the turn in progress go to that turn. */
class TranscriptionConnection {
  private socket?: RealtimeSocket;
  private readonly queue: RealtimeClientEvent[] = [];
  private failure?: Error;
  private closedByUs = false;
  private turn?: RealtimeLiveTurn;
  /** A turn ended with commits unanswered: their late events must not reach the next turn. */
  private tainted = false;

  constructor(private readonly options: RealtimeTranscriberOptions) {
    RealtimeSocket.connect({
      url: realtimeURL(options.baseURL, { intent: 'transcription' }),
      apiKey: options.apiKey,
      openTimeoutMs: options.timeoutMs,
    }).then(
      (socket) => {
        if (this.closedByUs) return socket.close();
        this.socket = socket;
        socket.onEvent((event) => this.onEvent(event));
        socket.onClose((closed) => {
          if (!this.closedByUs) this.fail(new LiveTranscriptionError(`The Realtime connection closed (${closed.code}${closed.reason ? ` ${closed.reason}` : ''}).`));
        });
        socket.send({
          type: 'session.update',
          session: {
            type: 'transcription',
            audio: {
              input: {
                format: { type: 'audio/pcm', rate: LIVE_SAMPLE_RATE },
                transcription: { model: options.model },
                turn_detection: null,
              },
            },
          },
        });
        for (const event of this.queue.splice(0)) socket.send(event);
      },
      (error: unknown) =>
        this.fail(new LiveTranscriptionError(error instanceof Error ? error.message : String(error), { cause: error })),
    );
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  get reusable(): boolean {
    return !this.failure && !this.closedByUs && !this.tainted && this.turn === undefined;
  }

  beginTurn(onPartial: (text: string) => void, onEnded: () => void): LiveTurn {
    const turn = new RealtimeLiveTurn(this, this.options.timeoutMs, onPartial, () => {
      if (this.turn === turn) this.turn = undefined;
      if (turn.unanswered) this.tainted = true;
      onEnded();
    });
    this.turn = turn;
    this.send({ type: 'input_audio_buffer.clear' });
    if (this.failure) turn.fail(this.failure);
    return turn;
  }

  send(event: RealtimeClientEvent): void {
    if (this.failure || this.closedByUs) return;
    if (this.socket) this.socket.send(event);
    else this.queue.push(event);
  }

  close(): void {
    this.closedByUs = true;
    this.queue.length = 0;
    this.socket?.close();
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.queue.length = 0;
    this.socket?.close();
    this.turn?.fail(error);
  }

  private onEvent(event: RealtimeServerEvent): void {
    const turn = this.turn;
    switch (event.type) {
      case 'input_audio_buffer.committed':
        return turn?.onCommitted(event.item_id);
      case 'conversation.item.input_audio_transcription.delta':
        return turn?.onDelta(event.item_id, event.delta ?? '');
      case 'conversation.item.input_audio_transcription.completed':
        return turn?.onCompleted(event.item_id, event.transcript);
      case 'conversation.item.input_audio_transcription.failed':
        return turn?.fail(new LiveTranscriptionError(`The streamed transcription failed: ${event.error.message ?? event.error.code ?? 'unknown error'}`));
      case 'error':
        if (event.error.code === 'input_audio_buffer_commit_empty') return turn?.onCommitEmpty();
        return this.fail(new LiveTranscriptionError(`The Realtime session reported: ${event.error.message}`));
      default:
        return; // session.created/updated, conversation.item.added/done, …: nothing to act on
    }
  }
}

interface CommittedItem {
  id: string;
  text: string;
  done: boolean;
}

class RealtimeLiveTurn implements LiveTurn {
  private readonly items: CommittedItem[] = [];
  private pendingCommits = 0;
  private batch: Int16Array[] = [];
  private batchSamples = 0;
  private uncommittedSamples = 0;
  private readonly pauses = new PauseDetector({ sampleRate: LIVE_SAMPLE_RATE, ...PAUSE });
  private ended = false;
  private failure?: Error;
  private waiter?: { resolve(text: string): void; reject(error: Error): void };

  constructor(
    private readonly connection: TranscriptionConnection,
    private readonly timeoutMs: number,
    private readonly onPartial: (text: string) => void,
    private readonly onEnded: () => void,
  ) {}

  /** Commits sent but not answered, or transcripts not complete. */
  get unanswered(): boolean {
    return this.pendingCommits > 0 || this.items.some((item) => !item.done);
  }

  append(pcm: Int16Array): void {
    if (this.ended || this.failure || this.waiter) return;
    this.batch.push(pcm);
    this.batchSamples += pcm.length;
    this.uncommittedSamples += pcm.length;
    if (this.batchSamples >= APPEND_SAMPLES) this.flushBatch();
    if (this.pauses.push(pcm) && this.uncommittedSamples >= MIN_COMMIT_SAMPLES * 3) this.commit();
  }

  finish(signal: AbortSignal): Promise<string> {
    if (this.failure) return this.end(Promise.reject(this.failure));
    this.flushBatch();
    // After a pause's commit, only silence left: nothing more to transcribe, so the transcript is ready now.
    const committedBefore = this.items.length > 0 || this.pendingCommits > 0;
    const onlySilenceLeft = committedBefore && !this.pauses.speechSincePause;
    if (!onlySilenceLeft && (this.uncommittedSamples >= MIN_COMMIT_SAMPLES || !committedBefore)) this.commit();
    const settled = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new LiveTranscriptionError('The streamed transcript did not come in time.')), this.timeoutMs);
      const onAbort = () => reject(new EngineAbortError(signal.reason));
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      const cleanUp = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      this.waiter = {
        resolve: (text) => (cleanUp(), resolve(text)),
        reject: (error) => (cleanUp(), reject(error)),
      };
      this.settleIfDone();
    });
    return this.end(settled);
  }

  discard(): void {
    if (this.ended) return;
    this.ended = true;
    this.connection.send({ type: 'input_audio_buffer.clear' });
    this.onEnded();
  }

  fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.waiter?.reject(error);
  }

  onCommitted(itemId: string): void {
    if (this.pendingCommits === 0) return; // not ours
    this.pendingCommits--;
    this.items.push({ id: itemId, text: '', done: false });
    this.settleIfDone();
  }

  onCommitEmpty(): void {
    if (this.pendingCommits === 0) return;
    this.pendingCommits--;
    this.settleIfDone();
  }

  onDelta(itemId: string, delta: string): void {
    const item = this.items.find((candidate) => candidate.id === itemId);
    if (!item || item.done) return;
    item.text += delta;
    this.partial();
  }

  onCompleted(itemId: string, transcript: string): void {
    const item = this.items.find((candidate) => candidate.id === itemId);
    if (!item) return;
    item.text = transcript;
    item.done = true;
    this.partial();
    this.settleIfDone();
  }

  private async end(settled: Promise<string>): Promise<string> {
    try {
      return await settled;
    } finally {
      if (!this.ended) {
        this.ended = true;
        this.onEnded();
      }
    }
  }

  private text(): string {
    return this.items
      .map((item) => item.text.trim())
      .filter(Boolean)
      .join(' ');
  }

  private partial(): void {
    if (!this.ended) this.onPartial(this.text());
  }

  private settleIfDone(): void {
    if (!this.waiter || this.unanswered) return;
    this.waiter.resolve(this.text());
  }

  private commit(): void {
    this.flushBatch();
    this.connection.send({ type: 'input_audio_buffer.commit' });
    this.pendingCommits++;
    this.uncommittedSamples = 0;
  }

  private flushBatch(): void {
    if (this.batchSamples === 0) return;
    const audio = pcm16AppendAudio(this.batch, this.batchSamples);
    this.batch = [];
    this.batchSamples = 0;
    this.connection.send({ type: 'input_audio_buffer.append', audio });
  }
}
