/**
 * The fake's speech-to-speech Realtime session (`<base>/realtime?model=…`, or Azure's
 * `/openai/v1/realtime?model=<deployment>`), with the GA event names and shapes of the official
 * `openai` package's types (openai/resources/realtime/realtime):
 *
 * - `session.update` (type `realtime`: instructions, audio formats, voice, input transcription,
 *   `turn_detection`: null, or `server_vad` / `semantic_vad` with `create_response`,
 *   `interrupt_response`, `prefix_padding_ms`, `silence_duration_ms`) → `session.updated`;
 * - with turn detection on, the appended audio is watched (realtime-vad.ts: energy, not a model):
 *   `input_audio_buffer.speech_started` / `.speech_stopped` (with `audio_start_ms` / `audio_end_ms`
 *   and the user item's id), then the server's own commit of that item; a response when
 *   `create_response`, the active one cancelled at speech start when `interrupt_response`;
 * - `input_audio_buffer.append` / `.commit` / `.clear` → `.committed` / `.cleared`, a user item
 *   with the audio (`conversation.item.added` / `.done`), and, when transcription is on,
 *   `conversation.item.input_audio_transcription.delta` / `.completed` with what pocketsphinx hears;
 * - `conversation.item.create` (`input_image` as a data URL, `input_text`) and
 *   `conversation.item.delete` → `conversation.item.added`/`.done` / `.deleted`;
 * - `response.create` → `response.created`, an assistant item, `response.output_audio.delta`
 *   (flite's speech of the reply, PCM16 24 kHz) interleaved with
 *   `response.output_audio_transcript.delta`, then the `.done` events and `response.done`;
 * - `response.cancel` → `response.done` with status `cancelled`; `conversation.item.truncate` →
 *   `conversation.item.truncated` (checked against the audio really sent);
 * - `error` events as the API sends them.
 *
 * The reply is made by the same function as the fake's chat completions (`options.reply`, default
 * `defaultReply`), from the conversation as chat turns: the user's audio as the words pocketsphinx
 * heard in it, and the newest image. `firstByteDelayMs` (behaviour `realtime`) is the model's delay
 * from `response.create` to the first audio delta; `chunkGapMs` spaces the audio deltas. Both are
 * read at each response, so a test can change them on a socket that is already open.
 */
import { performance } from 'node:perf_hooks';
import type { WebSocket } from 'ws';
import { encodeWav } from '../../server/media/wav.js';
import { recogniseSpeech, synthesizeSpeech } from './media.js';
import { concatPcm, eventId, itemId, loudnessDbfs, MIN_COMMIT_MS, SAMPLE_RATE, sleep, SOUND_DBFS } from './realtime-common.js';
import type { RealtimeContext } from './realtime.js';
import type { EndpointBehaviour, InjectedFailure, RecordedRealtimeResponse, RecordedRealtimeSession } from './types.js';
import { defaultReply } from './wire.js';
import { conversationTurns, type HeldItem, parseMessageItem } from './realtime-items.js';
import { FakeServerVad } from './realtime-vad.js';

type ClientEvent = { type?: unknown; event_id?: unknown; [key: string]: unknown };
interface ActiveResponse {
  record: RecordedRealtimeResponse;
  cancelled: boolean;
}

const DEFAULT_DELTA_MS = 100;
const bytesPerMs = (SAMPLE_RATE * 2) / 1000;

export class ConversationSession {
  private buffer: Int16Array[] = [];
  /** Turn detection (null: the client commits). */
  private vad?: FakeServerVad;
  private vadItemId?: string;
  /** Session ms where `buffer` begins. */
  private bufferStartMs = 0;
  private readonly items: HeldItem[] = [];
  private response?: ActiveResponse;
  private clientEvents = 0;
  private readonly session: Record<string, unknown>;
  private expiry?: NodeJS.Timeout;

  constructor(
    private readonly ws: WebSocket,
    url: URL,
    private readonly record: RecordedRealtimeSession,
    private readonly context: RealtimeContext,
    _behaviour: EndpointBehaviour,
    private readonly failure: InjectedFailure | undefined,
  ) {
    this.session = {
      object: 'realtime.session',
      type: 'realtime',
      id: `sess_${Math.random().toString(36).slice(2, 14)}`,
      model: url.searchParams.get('model'),
      output_modalities: ['audio'],
      instructions: 'You are a helpful assistant.',
      expires_at: Math.floor(Date.now() / 1000) + 3600,
      audio: {
        input: {
          format: { type: 'audio/pcm', rate: SAMPLE_RATE },
          noise_reduction: null,
          transcription: null,
          turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 500, create_response: true, interrupt_response: true },
        },
        output: { format: { type: 'audio/pcm', rate: SAMPLE_RATE }, voice: 'alloy', speed: 1 },
      },
    };
    record.session = this.session;
  }

  start(): void {
    const { ws } = this;
    const models = this.context.options.models;
    const model = this.session.model as string;
    if (models && !models.includes(model)) {
      this.error('invalid_request_error', `The model \`${model}\` does not exist or you do not have access to it.`, 'model_not_found');
      ws.close(1008, 'model_not_found');
      return;
    }
    ws.on('close', () => {
      this.record.closedAt ??= performance.now();
      clearTimeout(this.expiry);
      if (this.response) this.response.cancelled = true;
    });
    const expireAfterMs = this.context.options.realtimeConversation?.expireAfterMs;
    if (expireAfterMs !== undefined) {
      this.expiry = setTimeout(() => {
        this.error('invalid_request_error', 'Your session hit the maximum duration of 60 minutes.', 'session_expired');
        ws.close(1000, 'session expired');
      }, expireAfterMs);
    }
    this.send({ type: 'session.created', session: this.session });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return this.error('invalid_request_error', 'Binary frames are not supported; send JSON events.', 'invalid_event');
      let event: ClientEvent;
      try {
        event = JSON.parse(data.toString()) as ClientEvent;
      } catch {
        return this.error('invalid_request_error', 'The event is not valid JSON.', 'invalid_json');
      }
      this.onClientEvent(event);
    });
  }

  private onClientEvent(event: ClientEvent): void {
    const type = typeof event.type === 'string' ? event.type : '';
    const clientEventId = typeof event.event_id === 'string' ? event.event_id : null;
    this.record.events.push({ direction: 'in', type, at: performance.now() });
    this.clientEvents++;
    if ((this.failure?.kind === 'cut' || this.failure?.kind === 'stall') && this.clientEvents > this.failure.afterChunks) {
      if (this.failure.kind === 'cut') this.ws.terminate();
      return;
    }
    switch (type) {
      case 'session.update':
        return this.update(event.session, clientEventId);
      case 'input_audio_buffer.append': {
        if (typeof event.audio !== 'string') return this.error('invalid_request_error', "Missing required parameter: 'audio'.", 'missing_required_parameter', clientEventId);
        const bytes = Buffer.from(event.audio, 'base64');
        this.record.appendedBytes += bytes.length;
        const pcm = new Int16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + (bytes.length & ~1)));
        this.buffer.push(pcm);
        if (this.vad) this.detectTurns(pcm);
        return;
      }
      case 'input_audio_buffer.clear':
        this.buffer = [];
        this.vad?.reset();
        this.vadItemId = undefined;
        this.bufferStartMs = this.vad?.positionMs ?? 0;
        return this.send({ type: 'input_audio_buffer.cleared' });
      case 'input_audio_buffer.commit':
        return this.commit(clientEventId);
      case 'conversation.item.create':
        return this.createItem(event.item, clientEventId);
      case 'conversation.item.delete':
        return this.deleteItem(event.item_id, clientEventId);
      case 'conversation.item.truncate':
        return this.truncate(event, clientEventId);
      case 'response.create':
        return void this.respond(clientEventId);
      case 'response.cancel':
        if (!this.response) return this.error('invalid_request_error', 'Cancellation failed: no active response found', 'response_cancel_not_active', clientEventId);
        this.response.cancelled = true;
        this.response.record.cancelledAt = performance.now();
        return;
      default:
        return this.error('invalid_request_error', `Invalid value: '${type}'.`, 'invalid_value', clientEventId);
    }
  }

  private update(session: unknown, clientEventId: string | null): void {
    const requested = (session ?? {}) as { type?: unknown; instructions?: unknown; audio?: { input?: Record<string, unknown>; output?: Record<string, unknown> } };
    if (requested.type !== 'realtime') return this.error('invalid_request_error', "session.type must be 'realtime' in a conversation session.", 'invalid_value', clientEventId);
    const audio = this.session.audio as { input: Record<string, unknown>; output: Record<string, unknown> };
    for (const [name, part] of [['input', requested.audio?.input], ['output', requested.audio?.output]] as const) {
      const format = part?.format as { type?: unknown; rate?: unknown } | undefined;
      if (format && (format.type !== 'audio/pcm' || (format.rate !== undefined && format.rate !== SAMPLE_RATE))) {
        return this.error('invalid_request_error', `The fake accepts only audio/pcm at 24000 Hz (audio.${name}.format).`, 'invalid_value', clientEventId);
      }
    }
    const turnDetection = requested.audio?.input?.turn_detection as Record<string, unknown> | null | undefined;
    if (turnDetection && turnDetection.type !== 'server_vad' && turnDetection.type !== 'semantic_vad') {
      return this.error('invalid_request_error', `Invalid value: '${String(turnDetection.type)}'. Supported values are: 'server_vad' and 'semantic_vad'.`, 'invalid_value', clientEventId);
    }
    if (typeof requested.instructions === 'string') this.session.instructions = requested.instructions;
    Object.assign(audio.input, requested.audio?.input ?? {});
    if (turnDetection !== undefined) {
      // semantic_vad's end of turn is a model's guess; the fake ends it after the server_vad default silence.
      const detection = turnDetection && { prefix_padding_ms: 300, silence_duration_ms: 500, create_response: true, interrupt_response: true, ...(turnDetection.type === 'server_vad' ? { threshold: 0.5 } : {}), ...turnDetection };
      audio.input.turn_detection = detection;
      this.vad = detection ? new FakeServerVad({ prefixPaddingMs: Number(detection.prefix_padding_ms), silenceDurationMs: Number(detection.silence_duration_ms) }) : undefined;
      this.vadItemId = undefined;
      this.buffer = [];
      this.bufferStartMs = 0;
    }
    Object.assign(audio.output, requested.audio?.output ?? {});
    this.send({ type: 'session.updated', session: this.session });
  }

  private lastItemId(): string | null {
    return this.items.at(-1)?.record.id ?? null;
  }

  private addItem(held: HeldItem, item: object): void {
    const previous = this.lastItemId();
    this.items.push(held);
    this.record.items.push(held.record);
    this.send({ type: 'conversation.item.added', previous_item_id: previous, item });
    this.send({ type: 'conversation.item.done', previous_item_id: previous, item });
  }

  private detectTurns(pcm: Int16Array): void {
    const detection = (this.session.audio as { input: { turn_detection: { create_response?: boolean; interrupt_response?: boolean } } }).input.turn_detection;
    for (const event of this.vad!.push(pcm)) {
      if (event.type === 'speech_started') {
        this.vadItemId = itemId();
        // The audio before the padding is not part of the turn.
        const all = concatPcm(this.buffer);
        const skip = Math.max(0, Math.round(((event.audioStartMs - this.bufferStartMs) * SAMPLE_RATE) / 1000));
        this.buffer = [all.subarray(Math.min(skip, all.length))];
        this.bufferStartMs = event.audioStartMs;
        this.record.speechEvents.push({ type: 'speech_started', audioMs: event.audioStartMs, at: performance.now() });
        this.send({ type: 'input_audio_buffer.speech_started', audio_start_ms: event.audioStartMs, item_id: this.vadItemId });
        if (detection.interrupt_response && this.response) {
          this.response.cancelled = true;
          this.response.record.cancelledAt = performance.now();
        }
      } else {
        const id = this.vadItemId ?? itemId();
        this.vadItemId = undefined;
        this.record.speechEvents.push({ type: 'speech_stopped', audioMs: event.audioEndMs, at: performance.now() });
        this.send({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: event.audioEndMs, item_id: id });
        this.commit(null, id);
        if (detection.create_response) void this.respond(null);
      }
    }
  }

  private commit(clientEventId: string | null, serverItemId?: string): void {
    const pcm = concatPcm(this.buffer);
    this.buffer = [];
    this.bufferStartMs = this.vad?.positionMs ?? 0;
    if (!serverItemId) this.vad?.reset();
    const audioMs = (pcm.length * 1000) / SAMPLE_RATE;
    const commit = { receivedAt: performance.now(), audioMs } as RealtimeCommit;
    this.record.commits.push(commit);
    if (audioMs < MIN_COMMIT_MS) {
      return this.error('invalid_request_error', `Error committing input audio buffer: buffer too small. Expected at least ${MIN_COMMIT_MS}ms of audio, but buffer only has ${audioMs.toFixed(2)}ms of audio.`, 'input_audio_buffer_commit_empty', clientEventId);
    }
    const id = serverItemId ?? itemId();
    commit.itemId = id;
    commit.byServer = serverItemId !== undefined;
    const words = this.hear(pcm).then((text) => (commit.transcript = text));
    words.catch(() => undefined);
    this.send({ type: 'input_audio_buffer.committed', previous_item_id: this.lastItemId(), item_id: id });
    const item = { id, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_audio', transcript: null }] };
    this.addItem({ record: { id, role: 'user', contentTypes: ['input_audio'], createdAt: performance.now() }, words }, item);
    const transcription = (this.session.audio as { input: { transcription?: unknown } }).input.transcription;
    if (transcription) {
      void words.then((text) => {
        if (text) this.send({ type: 'conversation.item.input_audio_transcription.delta', item_id: id, content_index: 0, delta: text });
        this.send({ type: 'conversation.item.input_audio_transcription.completed', item_id: id, content_index: 0, transcript: text, usage: { type: 'duration', seconds: Math.round(audioMs / 100) / 10 } });
        commit.completedAt = performance.now();
      }, (error: unknown) => {
        this.send({ type: 'conversation.item.input_audio_transcription.failed', item_id: id, content_index: 0, error: { type: 'server_error', message: String(error) } });
      });
    }
  }

  private hear(pcm: Int16Array): Promise<string> {
    const { transcript } = this.context.options;
    const wav = () => encodeWav({ pcm, sampleRate: SAMPLE_RATE, durationMs: 0, speechMs: 0 });
    if (typeof transcript === 'string') return Promise.resolve(loudnessDbfs(pcm) > SOUND_DBFS ? transcript : '');
    return transcript ? Promise.resolve(transcript(wav())) : recogniseSpeech(wav());
  }

  private createItem(raw: unknown, clientEventId: string | null): void {
    const parsed = parseMessageItem(raw);
    if (typeof parsed === 'string') return this.error('invalid_request_error', parsed, 'invalid_value', clientEventId);
    this.addItem(parsed.held, parsed.shown);
  }

  private deleteItem(id: unknown, clientEventId: string | null): void {
    const index = this.items.findIndex((held) => held.record.id === id);
    if (index < 0) return this.error('invalid_request_error', `Error deleting item: the item with id '${String(id)}' does not exist.`, 'item_delete_invalid_item_id', clientEventId);
    const [held] = this.items.splice(index, 1);
    held!.record.deletedAt = performance.now();
    this.send({ type: 'conversation.item.deleted', item_id: id });
  }

  private truncate(event: ClientEvent, clientEventId: string | null): void {
    const held = this.items.find((candidate) => candidate.record.id === event.item_id);
    const audioEndMs = event.audio_end_ms;
    if (!held || held.record.role !== 'assistant') return this.error('invalid_request_error', 'Only assistant message items can be truncated.', 'invalid_value', clientEventId);
    if (typeof audioEndMs !== 'number' || audioEndMs < 0 || event.content_index !== 0) return this.error('invalid_request_error', "Invalid 'audio_end_ms' or 'content_index'.", 'invalid_value', clientEventId);
    if (audioEndMs > (held.audioMs ?? 0)) {
      return this.error('invalid_request_error', `Audio content of ${Math.round(held.audioMs ?? 0)}ms is already shorter than ${audioEndMs}ms`, 'invalid_value', clientEventId);
    }
    this.record.truncations.push({ itemId: held.record.id, audioEndMs, at: performance.now() });
    held.audioMs = audioEndMs;
    held.words = Promise.resolve(''); // the API drops the server-side transcript of a truncated item
    this.send({ type: 'conversation.item.truncated', item_id: held.record.id, content_index: 0, audio_end_ms: audioEndMs });
  }

  private async respond(clientEventId: string | null): Promise<void> {
    if (this.response) return this.error('invalid_request_error', 'Conversation already has an active response in progress.', 'conversation_already_has_active_response', clientEventId);
    const id = `resp_${Math.random().toString(36).slice(2, 14)}`;
    const record: RecordedRealtimeResponse = { id, requestedAt: performance.now(), audioSentMs: 0, status: 'in_progress' };
    this.record.responses.push(record);
    const active: ActiveResponse = { record, cancelled: false };
    this.response = active;
    const base = { object: 'realtime.response', id, conversation_id: 'conv_fake', output_modalities: ['audio'], metadata: null };
    this.send({ type: 'response.created', response: { ...base, status: 'in_progress', status_details: null, output: [], usage: null } });
    const finish = (status: RecordedRealtimeResponse['status'], output: unknown[], details: unknown = null) => {
      record.status = status;
      record.doneAt = performance.now();
      if (this.response === active) this.response = undefined;
      this.send({ type: 'response.done', response: { ...base, status, status_details: details, output, usage: { total_tokens: 0, input_tokens: 0, output_tokens: 0 } } });
    };
    const conversationOptions = this.context.options.realtimeConversation ?? {};
    if (conversationOptions.responseError) {
      return finish('failed', [], { type: 'failed', error: conversationOptions.responseError });
    }
    const turns = await conversationTurns(this.items, String(this.session.instructions ?? ''));
    const question = [...turns].reverse().find((turn) => turn.role === 'user');
    record.question = question?.text ?? '';
    if (question?.image) record.image = question.image.bytes;
    const text = await (this.context.options.reply ?? defaultReply)({ model: String(this.session.model), messages: turns, body: {} });
    record.text = text;
    const audio = await synthesizeSpeech(text, 'pcm');
    const item_id = itemId();
    record.itemId = item_id;
    const assistant: HeldItem = { record: { id: item_id, role: 'assistant', contentTypes: ['output_audio'], createdAt: performance.now(), text }, audioMs: 0, words: Promise.resolve(text) };
    const item = (status: string, transcript: string) => ({ id: item_id, object: 'realtime.item', type: 'message', status, role: 'assistant', content: [{ type: 'output_audio', transcript }] });
    const previous = this.lastItemId();
    this.items.push(assistant);
    this.record.items.push(assistant.record);
    const where = { response_id: id, item_id, output_index: 0, content_index: 0 };
    this.send({ type: 'response.output_item.added', response_id: id, output_index: 0, item: item('in_progress', '') });
    this.send({ type: 'conversation.item.added', previous_item_id: previous, item: item('in_progress', '') });
    this.send({ type: 'response.content_part.added', ...where, part: { type: 'audio', transcript: '' } });
    const { firstByteDelayMs = 0, chunkGapMs = 0 } = this.context.behaviour();
    if (firstByteDelayMs) await sleep(firstByteDelayMs);

    const deltaBytes = Math.round((conversationOptions.audioDeltaMs ?? DEFAULT_DELTA_MS) * bytesPerMs) & ~1;
    const words = text.match(/\s*\S+/g) ?? [];
    let wordsSent = 0;
    let deltas = 0;
    for (let at = 0; at < audio.length; at += deltaBytes) {
      if (active.cancelled || this.ws.readyState !== this.ws.OPEN) break;
      if (deltas > 0 && chunkGapMs) await sleep(chunkGapMs);
      if (active.cancelled) break;
      const chunk = audio.subarray(at, at + deltaBytes);
      // The words run a little ahead of the audio that speaks them, as the API's do.
      const wordsDue = Math.min(words.length, Math.ceil(((at + chunk.length) / audio.length) * words.length));
      for (; wordsSent < wordsDue; wordsSent++) this.send({ type: 'response.output_audio_transcript.delta', ...where, delta: words[wordsSent] });
      this.send({ type: 'response.output_audio.delta', ...where, delta: chunk.toString('base64') });
      record.firstAudioAt ??= performance.now();
      record.audioSentMs += chunk.length / bytesPerMs;
      assistant.audioMs = record.audioSentMs;
      deltas++;
      if (conversationOptions.cutAfterAudioDeltas !== undefined && deltas >= conversationOptions.cutAfterAudioDeltas) {
        this.ws.terminate();
        return;
      }
      if (!chunkGapMs) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const spoken = words.slice(0, wordsSent).join('').trim();
    if (active.cancelled) {
      return finish('cancelled', [item('incomplete', spoken)], { type: 'cancelled', reason: 'client_cancelled' });
    }
    this.send({ type: 'response.output_audio.done', ...where });
    this.send({ type: 'response.output_audio_transcript.done', ...where, transcript: text });
    this.send({ type: 'response.content_part.done', ...where, part: { type: 'audio', transcript: text } });
    this.send({ type: 'response.output_item.done', response_id: id, output_index: 0, item: item('completed', text) });
    this.send({ type: 'conversation.item.done', previous_item_id: previous, item: item('completed', text) });
    finish('completed', [item('completed', text)]);
  }

  private error(type: string, message: string, code: string, clientEventId: string | null = null): void {
    this.send({ type: 'error', error: { type, code, message, param: null, event_id: clientEventId } });
  }

  private send(event: { type: string; [key: string]: unknown }): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify({ event_id: eventId(), ...event }));
    this.record.events.push({ direction: 'out', type: event.type, at: performance.now() });
  }
}

type RealtimeCommit = RecordedRealtimeSession['commits'][number];
