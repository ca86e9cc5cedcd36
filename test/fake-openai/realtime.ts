/**
 * The fake's Realtime API: WebSocket upgrades of `<base>/realtime`, checked like the real one
 * (Bearer key, `intent=transcription` without a model), and a transcription session that answers
 * with the event names and shapes of the official `openai` package's types
 * (openai/resources/realtime/realtime): `session.created` / `session.updated`,
 * `input_audio_buffer.committed` / `.cleared`, `conversation.item.added` / `.done`,
 * `conversation.item.input_audio_transcription.delta` / `.completed`, and `error` events
 * (`input_audio_buffer_commit_empty`, invalid events). The transcripts are what pocketsphinx hears
 * in the audio the session really received. Conversation (speech-to-speech) sessions, `?model=…`,
 * are served by realtime-conversation.ts.
 *
 * Turn detection: only `null` (the client commits) is served; a `server_vad` request gets an error.
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { WebSocket, WebSocketServer } from 'ws';
import { encodeWav } from '../../server/media/wav.js';
import { recogniseSpeech } from './media.js';
import { ConversationSession } from './realtime-conversation.js';
import { eventId, itemId, loudnessDbfs, MIN_COMMIT_MS, SAMPLE_RATE, sleep, SOUND_DBFS } from './realtime-common.js';
import type { EndpointBehaviour, FakeOpenAIOptions, InjectedFailure, RecordedRealtimeSession, RealtimeCommitRecord } from './types.js';
import { openAIErrorBody } from './wire.js';


export interface RealtimeContext {
  basePath: string;
  options: FakeOpenAIOptions;
  behaviour(): EndpointBehaviour;
  takeFailure(behaviour: EndpointBehaviour): InjectedFailure | undefined;
  sessions: RecordedRealtimeSession[];
}


function refuse(socket: Duplex, status: number, body: object): void {
  const text = JSON.stringify(body);
  const reason = status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 404 ? 'Not Found' : status === 429 ? 'Too Many Requests' : 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
}

function headerText(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function bearer(headers: http.IncomingHttpHeaders): string | undefined {
  return /^Bearer (.*)$/i.exec(headers.authorization ?? '')?.[1];
}


/** Serves `<basePath>/realtime` upgrades on `server`. */
export function attachRealtime(server: http.Server, context: RealtimeContext): { close(): void } {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    let closedResolve: () => void = () => {};
    const record: RecordedRealtimeSession = {
      path: req.url ?? '',
      headers: req.headers,
      openedAt: performance.now(),
      session: {},
      events: [],
      appendedBytes: 0,
      commits: [],
      items: [],
      responses: [],
      truncations: [],
      speechEvents: [],
      closed: new Promise((resolve) => (closedResolve = resolve)),
    };
    context.sessions.push(record);
    socket.once('close', () => {
      record.closedAt ??= performance.now();
      closedResolve();
    });
    // Azure OpenAI's GA path (`/openai/v1/realtime?model=<deployment>`, key in `api-key`) is served too.
    const azure = url.pathname === '/openai/v1/realtime';
    if (url.pathname !== `${context.basePath}/realtime` && !azure) {
      record.refusedWith = 404;
      return refuse(socket, 404, openAIErrorBody(404, '', `Invalid URL (GET ${url.pathname})`));
    }
    const behaviour = context.behaviour();
    const failure = context.takeFailure(behaviour);
    if (failure?.kind === 'hang') return; // the client's handshake timeout fires
    if (failure?.kind === 'status') {
      record.refusedWith = failure.status;
      return refuse(socket, failure.status, openAIErrorBody(failure.status, '', failure.message, failure.code));
    }
    const key = azure ? headerText(req.headers['api-key']) : bearer(req.headers);
    if (context.options.apiKey !== undefined && key !== context.options.apiKey) {
      record.refusedWith = 401;
      return refuse(socket, 401, openAIErrorBody(401, '', undefined, undefined, key));
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (url.searchParams.get('intent') !== 'transcription' && url.searchParams.has('model')) {
        return new ConversationSession(ws, url, record, context, behaviour, failure).start();
      }
      new TranscriptionSession(ws, url, record, context, behaviour, failure).start();
    });
  });

  return {
    close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
    },
  };
}

/** One connection's session: its settings, input audio buffer and commits. */
class TranscriptionSession {
  private buffer: Int16Array[] = [];
  private bufferSamples = 0;
  private lastItemId: string | null = null;
  private clientEvents = 0;
  /** Transcriptions run one after another, so their events come out in commit order. */
  private transcribing: Promise<void> = Promise.resolve();
  private readonly session: Record<string, unknown>;

  constructor(
    private readonly ws: WebSocket,
    private readonly url: URL,
    private readonly record: RecordedRealtimeSession,
    private readonly context: RealtimeContext,
    private readonly behaviour: EndpointBehaviour,
    private readonly failure: InjectedFailure | undefined,
  ) {
    this.session = {
      object: 'realtime.transcription_session',
      type: 'transcription',
      id: `sess_${randomBytes(9).toString('base64url')}`,
      expires_at: Math.floor(Date.now() / 1000) + 3600,
      audio: {
        input: {
          format: { type: 'audio/pcm', rate: SAMPLE_RATE },
          noise_reduction: null,
          transcription: null,
          turn_detection: { type: 'server_vad', threshold: 0.5, prefix_padding_ms: 300, silence_duration_ms: 500 },
        },
      },
      include: null,
    };
    record.session = this.session;
  }

  start(): void {
    const { ws, url } = this;
    ws.on('close', () => (this.record.closedAt ??= performance.now()));
    if (url.searchParams.has('model') && url.searchParams.get('intent') === 'transcription') {
      this.error('invalid_request_error', 'You must not provide a model parameter for transcription sessions.', 'invalid_model');
      ws.close(1008, 'invalid request');
      return;
    }
    if (url.searchParams.get('intent') !== 'transcription') {
      this.error('invalid_request_error', 'Missing required parameter: model (or intent=transcription).', 'missing_required_parameter');
      ws.close(1008, 'unsupported');
      return;
    }
    this.send({ type: 'session.created', session: this.session });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return this.error('invalid_request_error', 'Binary frames are not supported; send JSON events.', 'invalid_event');
      let event: { type?: unknown; event_id?: unknown; [key: string]: unknown };
      try {
        event = JSON.parse(data.toString()) as typeof event;
      } catch {
        return this.error('invalid_request_error', 'The event is not valid JSON.', 'invalid_json');
      }
      this.onClientEvent(event);
    });
  }

  private onClientEvent(event: { type?: unknown; event_id?: unknown; [key: string]: unknown }): void {
    const type = typeof event.type === 'string' ? event.type : '';
    const clientEventId = typeof event.event_id === 'string' ? event.event_id : null;
    this.record.events.push({ direction: 'in', type, at: performance.now() });
    this.clientEvents++;
    if ((this.failure?.kind === 'cut' || this.failure?.kind === 'stall') && this.clientEvents > this.failure.afterChunks) {
      if (this.failure.kind === 'cut') this.ws.terminate(); // the connection drops
      return; // stall: it goes silent
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
        this.bufferSamples += pcm.length;
        return;
      }
      case 'input_audio_buffer.commit':
        return this.commit(clientEventId);
      case 'input_audio_buffer.clear':
        this.buffer = [];
        this.bufferSamples = 0;
        return this.send({ type: 'input_audio_buffer.cleared' });
      default:
        return this.error('invalid_request_error', `Invalid value: '${type}'. Supported values are: 'session.update', 'input_audio_buffer.append', 'input_audio_buffer.commit' and 'input_audio_buffer.clear'.`, 'invalid_value', clientEventId);
    }
  }

  private update(session: unknown, clientEventId: string | null): void {
    const requested = (session ?? {}) as { type?: unknown; audio?: { input?: Record<string, unknown> } };
    if (requested.type !== 'transcription') {
      return this.error('invalid_request_error', "session.type must be 'transcription' in a transcription session.", 'invalid_value', clientEventId);
    }
    const input = requested.audio?.input ?? {};
    const format = input.format as { type?: unknown; rate?: unknown } | undefined;
    if (format && (format.type !== 'audio/pcm' || (format.rate !== undefined && format.rate !== SAMPLE_RATE))) {
      return this.error('invalid_request_error', 'The fake accepts only audio/pcm at 24000 Hz.', 'invalid_value', clientEventId);
    }
    if (input.turn_detection !== undefined && input.turn_detection !== null) {
      return this.error('invalid_request_error', 'The fake serves only turn_detection: null (the client commits).', 'unsupported', clientEventId);
    }
    const current = (this.session.audio as { input: Record<string, unknown> }).input;
    for (const [name, value] of Object.entries(input)) current[name] = value;
    this.send({ type: 'session.updated', session: this.session });
  }

  private commit(clientEventId: string | null): void {
    const audioMs = (this.bufferSamples * 1000) / SAMPLE_RATE;
    const commit: RealtimeCommitRecord = { receivedAt: performance.now(), audioMs };
    this.record.commits.push(commit);
    if (audioMs < MIN_COMMIT_MS) {
      return this.error(
        'invalid_request_error',
        `Error committing input audio buffer: buffer too small. Expected at least ${MIN_COMMIT_MS}ms of audio, but buffer only has ${audioMs.toFixed(2)}ms of audio.`,
        'input_audio_buffer_commit_empty',
        clientEventId,
      );
    }
    const pcm = new Int16Array(this.bufferSamples);
    let at = 0;
    for (const part of this.buffer) {
      pcm.set(part, at);
      at += part.length;
    }
    this.buffer = [];
    this.bufferSamples = 0;
    const id = itemId();
    commit.itemId = id;
    const previous = this.lastItemId;
    this.lastItemId = id;
    const item = { id, object: 'realtime.item', type: 'message', status: 'completed', role: 'user', content: [{ type: 'input_audio', transcript: null }] };
    this.send({ type: 'input_audio_buffer.committed', previous_item_id: previous, item_id: id });
    this.send({ type: 'conversation.item.added', previous_item_id: previous, item });
    this.send({ type: 'conversation.item.done', previous_item_id: previous, item });
    this.transcribing = this.transcribing.then(() => this.transcribe(id, pcm, commit)).catch(() => undefined);
  }

  private async transcribe(id: string, pcm: Int16Array, commit: RealtimeCommitRecord): Promise<void> {
    const { transcript } = this.context.options;
    const text =
      typeof transcript === 'string' ? (loudnessDbfs(pcm) > SOUND_DBFS ? transcript : '')
      : transcript ? await transcript(encodeWav({ pcm, sampleRate: SAMPLE_RATE, durationMs: 0, speechMs: 0 }))
      : await recogniseSpeech(encodeWav({ pcm, sampleRate: SAMPLE_RATE, durationMs: 0, speechMs: 0 }));
    commit.transcript = text;
    if (this.behaviour.firstByteDelayMs) await sleep(this.behaviour.firstByteDelayMs);
    // Deltas of about a word each, as the API streams them (the first word without a leading space).
    for (const [index, piece] of (text.match(/\s*\S+/g) ?? []).entries()) {
      if (index > 0 && this.behaviour.chunkGapMs) await sleep(this.behaviour.chunkGapMs);
      this.send({ type: 'conversation.item.input_audio_transcription.delta', item_id: id, content_index: 0, delta: index === 0 ? piece.trimStart() : piece });
      commit.firstDeltaAt ??= performance.now();
    }
    this.send({
      type: 'conversation.item.input_audio_transcription.completed',
      item_id: id,
      content_index: 0,
      transcript: text,
      usage: { type: 'duration', seconds: Math.round((pcm.length / SAMPLE_RATE) * 10) / 10 },
    });
    commit.completedAt = performance.now();
  }

  private error(type: string, message: string, code: string, clientEventId: string | null = null): void {
    this.send({ type: 'error', error: { type, code, message, param: null, event_id: clientEventId } });
  }

  private send(event: { type: string; [key: string]: unknown }): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify({ event_id: eventId(), ...event }));
    this.record.events.push({ direction: 'out', type: event.type, at: performance.now() });
  }
}
