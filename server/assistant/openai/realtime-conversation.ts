/**
 * The speech-to-speech engine's conversation for one browser call: one OpenAI Realtime WebSocket
 * (GA interface, `ws` typed with the `openai` package's events; see realtime-socket.ts for why not
 * the package's `OpenAIRealtimeWS`), opened when the call starts, reopened with backoff when it
 * drops, closed with the call.
 *
 * A turn: the mic audio is appended while the user talks (100 ms per event), committed at release,
 * the newest frame goes in as an `input_image` item (the oldest beyond `maxImages` are deleted),
 * then `response.create`. Reply audio and its transcript are handed on delta by delta. A cancel
 * sends `response.cancel` (if the reply is still coming) and truncates the reply's item at the
 * audio actually played, so the model remembers only what the user heard.
 *
 * Hands-free: the session asks for the server's turn detection (`server_vad`, with
 * `create_response` and `interrupt_response` off), the audio is appended all along, and the
 * server's `speech_started` / `speech_stopped` / `committed` go to the caller, which answers the
 * committed item (the newest frame is added first, then `response.create`) or barges in.
 *
 * A reopened socket is a new session with no memory: the turns so far are given back to it as
 * text items (what was said and heard), so the conversation carries on.
 */
import { randomBytes } from 'node:crypto';
import type { RealtimeClientEvent, RealtimeServerEvent } from 'openai/resources/realtime/realtime';
import {
  EngineError,
  LIVE_SAMPLE_RATE,
  type FrameImage,
  type ServerTurnDetection,
  type SpeechToSpeechCall,
  type SpeechToSpeechHandlers,
  type SpeechToSpeechReply,
  type SpeechToSpeechRequest,
} from '../engine.js';
import { connectFailure, cutFailure, eventFailure, type RealtimeFailureContext } from './realtime-errors.js';
import { RealtimeSocket, pcm16AppendAudio } from './realtime-socket.js';
import { RealtimeResponse } from './realtime-response.js';

export interface RealtimeConversationOptions extends RealtimeFailureContext {
  url: URL;
  headers: Record<string, string>;
  instructions: string;
  voice: string;
  /** The input transcription model, so the user's words appear in the log. */
  transcriptionModel: string;
  imageDetail: 'low' | 'high' | 'auto';
  maxImages: number;
  openTimeoutMs: number;
  /** First reconnect delay, doubled after each failure up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  onConnection?(event: { open: boolean; error?: EngineError }): void;
}

/** Messages given back to a reopened session (the newest; a long call's oldest are dropped). */
const MAX_SAID = 40;
/** Appends are batched to this much audio (10 events a second). */
const APPEND_SAMPLES = LIVE_SAMPLE_RATE / 10;

export class RealtimeConversation implements SpeechToSpeechCall {
  private socket?: RealtimeSocket;
  private opening?: Promise<RealtimeSocket>;
  private lastFailure?: EngineError;
  private readonly queue: RealtimeClientEvent[] = [];
  private batch: Int16Array[] = [];
  private batchSamples = 0;
  private readonly imageItems: string[] = [];
  /** The turns so far as text, given back to a reopened session. */
  private readonly said: Array<{ role: 'user' | 'assistant'; text: string }> = [];
  /** Replies whose events may still come, oldest first (a cancelled one until its `response.done`). */
  private responses: RealtimeResponse[] = [];
  private backoff: number;
  private reconnectTimer?: NodeJS.Timeout;
  private closed = false;
  private turnDetection: ServerTurnDetection | null = null;
  /** Transcripts of the server's commits that came before their turn asked (newest few). */
  private readonly earlyTranscripts = new Map<string, string>();

  constructor(private readonly options: RealtimeConversationOptions) {
    this.backoff = options.backoffMs ?? 500;
    this.open();
  }

  /** Whether the socket is open now (for tests and logs). */
  get isOpen(): boolean {
    return this.socket?.isOpen ?? false;
  }

  appendAudio(pcm: Int16Array): void {
    this.batch.push(pcm);
    this.batchSamples += pcm.length;
    if (this.batchSamples >= APPEND_SAMPLES) this.flushAudio();
  }

  clearAudio(): void {
    this.batch = [];
    this.batchSamples = 0;
    this.send({ type: 'input_audio_buffer.clear' });
  }

  respond(request: SpeechToSpeechRequest, handlers: SpeechToSpeechHandlers): SpeechToSpeechReply {
    this.responses.at(-1)?.cancel(0);
    const response = new RealtimeResponse({
      handlers,
      send: (event) => this.send(event),
      failure: (error) => eventFailure(error, this.options),
      onHeard: (question, answer) => {
        if (question) this.said.push({ role: 'user', text: question });
        if (answer) this.said.push({ role: 'assistant', text: answer });
        this.said.splice(0, Math.max(0, this.said.length - MAX_SAID));
      },
    });
    if (request.committedItemId) response.answersItem(request.committedItemId, this.earlyTranscripts.get(request.committedItemId));
    this.responses.push(response);
    this.start(response, request).catch((error: unknown) => {
      this.queue.length = 0; // nothing of a failed turn is sent later
      response.fail(error instanceof EngineError ? error : eventFailure({ message: String(error) }, this.options));
      this.forget(response);
    });
    return response;
  }

  setTurnDetection(detection: ServerTurnDetection | null): void {
    if (detection === null && this.turnDetection === null) return;
    this.turnDetection = detection;
    this.batch = [];
    this.batchSamples = 0;
    // Sent now on an open socket; a socket that opens later sends it with the rest of the session.
    if (this.socket?.isOpen) this.socket.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: this.turnDetectionConfig() } } } });
  }

  dropItem(itemId: string): void {
    this.send({ type: 'conversation.item.delete', item_id: itemId });
  }

  private turnDetectionConfig() {
    const detection = this.turnDetection;
    if (!detection) return null;
    return {
      type: 'server_vad' as const,
      threshold: detection.threshold,
      prefix_padding_ms: detection.prefixPaddingMs,
      silence_duration_ms: detection.silenceMs,
      create_response: false,
      interrupt_response: false,
    };
  }

  remember(turns: ReadonlyArray<{ role: 'user' | 'assistant'; text: string }>): void {
    if (this.said.length > 0 || this.responses.length > 0) return; // the call has its own conversation already
    for (const turn of turns) {
      if (!turn.text.trim()) continue;
      this.said.push({ role: turn.role, text: turn.text });
      if (this.socket?.isOpen) this.sendSaid(this.socket, turn);
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.queue.length = 0;
    for (const response of this.responses) response.fail(new EngineError('stream_cut', 'The call ended.'));
    this.responses = [];
    this.socket?.close();
  }

  private forget(response: RealtimeResponse): void {
    this.responses = this.responses.filter((candidate) => candidate !== response);
  }

  private async start(response: RealtimeResponse, request: SpeechToSpeechRequest): Promise<void> {
    if (request.commit) {
      this.flushAudio();
      response.expectCommit();
      this.send({ type: 'input_audio_buffer.commit' });
      response.handlers.onCommitSent?.();
    }
    // A socket that is down is reopened now, rather than at the end of its back-off.
    const ready = this.whenOpen();
    const image = await request.image;
    await ready;
    if (response.settled) return;
    if (image) this.addImage(image);
    if (request.text) {
      this.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: request.text }] } });
      response.question = request.text;
    }
    response.requested();
    this.send({ type: 'response.create' });
    response.handlers.onResponseRequested?.();
  }

  private addImage(image: FrameImage): void {
    const id = `img_${randomBytes(8).toString('hex')}`;
    const url = `data:image/jpeg;base64,${image.jpeg.toString('base64')}`;
    this.send({ type: 'conversation.item.create', item: { id, type: 'message', role: 'user', content: [{ type: 'input_image', image_url: url, detail: this.options.imageDetail }] } });
    this.imageItems.push(id);
    while (this.imageItems.length > this.options.maxImages) this.send({ type: 'conversation.item.delete', item_id: this.imageItems.shift()! });
  }

  /** Resolves once the socket is open; rejects with the reason it cannot be. */
  private async whenOpen(): Promise<void> {
    if (this.socket?.isOpen) return;
    if (!this.opening) {
      clearTimeout(this.reconnectTimer);
      this.open();
    }
    await this.opening;
  }

  private open(): void {
    if (this.closed) return;
    const { url, headers, openTimeoutMs } = this.options;
    const opening = RealtimeSocket.connect({ url, headers, openTimeoutMs }).catch((error: unknown) => {
      throw connectFailure(error, this.options);
    });
    this.opening = opening;
    opening.then(
      (socket) => this.onOpen(socket),
      (error: EngineError) => {
        if (this.opening === opening) this.opening = undefined;
        this.lastFailure = error;
        this.options.onConnection?.({ open: false, error });
        this.scheduleReconnect();
      },
    );
  }

  private onOpen(socket: RealtimeSocket): void {
    this.opening = undefined;
    if (this.closed) return socket.close();
    this.socket = socket;
    this.lastFailure = undefined;
    const { instructions, voice, transcriptionModel } = this.options;
    socket.send({
      type: 'session.update',
      session: {
        type: 'realtime',
        instructions,
        output_modalities: ['audio'],
        audio: {
          input: { format: { type: 'audio/pcm', rate: LIVE_SAMPLE_RATE }, transcription: { model: transcriptionModel }, turn_detection: this.turnDetectionConfig() },
          output: { format: { type: 'audio/pcm', rate: LIVE_SAMPLE_RATE }, voice },
        },
      },
    });
    // A new session knows nothing: the conversation so far goes back in as text, images dropped.
    this.imageItems.length = 0;
    for (const turn of this.said) this.sendSaid(socket, turn);
    for (const event of this.queue.splice(0)) socket.send(event);
    socket.onEvent((event) => this.onEvent(event));
    socket.onClose((closed) => {
      if (this.socket === socket) this.socket = undefined;
      if (this.closed) return;
      const failure = this.lastFailure ?? cutFailure(closed.code);
      for (const response of this.responses) response.fail(failure);
      this.responses = [];
      this.options.onConnection?.({ open: false, error: failure });
      this.scheduleReconnect();
    });
    this.options.onConnection?.({ open: true });
  }

  private sendSaid(socket: RealtimeSocket, turn: { role: 'user' | 'assistant'; text: string }): void {
    socket.send({
      type: 'conversation.item.create',
      item:
        turn.role === 'user' ?
          { type: 'message', role: 'user', content: [{ type: 'input_text', text: turn.text }] }
        : { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: turn.text }] },
    });
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.open(), this.backoff);
    this.reconnectTimer.unref();
    this.backoff = Math.min(this.backoff * 2, this.options.maxBackoffMs ?? 30_000);
  }

  private onEvent(event: RealtimeServerEvent): void {
    if (event.type === 'session.updated') this.backoff = this.options.backoffMs ?? 500;
    if (event.type === 'error') {
      const failure = eventFailure(event.error, this.options);
      // Fatal ones come before the server closes the socket: that close reports this failure.
      if (event.error.code === 'session_expired' || event.error.code === 'model_not_found' || event.error.code === 'invalid_api_key') this.lastFailure = failure;
      const newest = this.responses.at(-1);
      newest?.onError(event.error, failure);
      if (newest && !newest.live) this.forget(newest);
      return;
    }
    if (this.onTurnDetection(event)) return;
    if (event.type === 'response.created') {
      // Matched in order to the replies that asked for one.
      const asker = this.responses.find((response) => response.awaitingCreated);
      if (asker) asker.created(event.response.id ?? '');
      else this.send({ type: 'response.cancel', response_id: event.response.id }); // not ours (a stopped empty commit's)
      return;
    }
    for (const response of [...this.responses]) {
      response.onEvent(event);
      if (!response.live) this.forget(response);
    }
  }

  /** The server's turn detection's events; true when the event was only that. */
  private onTurnDetection(event: RealtimeServerEvent): boolean {
    const detection = this.turnDetection;
    if (event.type === 'conversation.item.input_audio_transcription.completed' && this.earlyTranscripts.has(event.item_id)) {
      this.earlyTranscripts.set(event.item_id, event.transcript.trim());
      return false;
    }
    if (!detection) return false;
    if (event.type === 'input_audio_buffer.speech_started') {
      detection.onSpeechStarted(event.audio_start_ms);
      return true;
    }
    if (event.type === 'input_audio_buffer.speech_stopped') {
      detection.onSpeechStopped(event.audio_end_ms);
      return true;
    }
    // A commit a push-to-talk turn asked for is that turn's; any other is the server's own.
    if (event.type === 'input_audio_buffer.committed' && !this.responses.some((response) => response.awaitsCommit)) {
      this.earlyTranscripts.set(event.item_id, '');
      while (this.earlyTranscripts.size > 4) this.earlyTranscripts.delete(this.earlyTranscripts.keys().next().value!);
      detection.onCommitted(event.item_id);
      return true;
    }
    return false;
  }

  private flushAudio(): void {
    if (this.batchSamples === 0) return;
    const audio = pcm16AppendAudio(this.batch, this.batchSamples);
    this.batch = [];
    this.batchSamples = 0;
    this.send({ type: 'input_audio_buffer.append', audio });
  }

  /** Sends now, or once the socket is open (a turn's events are never sent to a half-open one). */
  private send(event: RealtimeClientEvent): void {
    if (this.closed) return;
    if (this.socket?.isOpen) this.socket.send(event);
    else if (this.queue.length < 2000) this.queue.push(event);
  }
}
