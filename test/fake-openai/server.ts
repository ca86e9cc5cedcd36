/**
 * A fake OpenAI API for tests, faithful to the wire format the official `openai` package speaks:
 * multipart transcriptions, streamed chat completions (SSE), streamed Ogg-Opus speech. Answers
 * are made from the real media (pocketsphinx, sharp, flite + ffmpeg libopus; see media.ts).
 * Timing and failures are settable per endpoint, and every request is recorded.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type FakeSpeechFormat, recogniseSpeech, synthesizeSpeech } from './media.js';
import { attachRealtime } from './realtime.js';
import {
  type ChatReplyInput,
  type ChatTurn,
  chatCompletionEvents,
  defaultReply,
  openAIErrorBody,
  readChatTurns,
} from './wire.js';

import type {
  EndpointBehaviour,
  FakeEndpoint,
  FakeOpenAI,
  FakeOpenAIOptions,
  InjectedFailure,
  RecordedRealtimeSession,
  RecordedRequest,
  RequestOutcome,
} from './types.js';

export type * from './types.js';
export type { ChatReplyInput, ChatTurn };
const ENDPOINT_PATHS: ReadonlyArray<readonly [FakeEndpoint, string]> = [
  ['transcriptions', '/audio/transcriptions'],
  ['chat', '/chat/completions'],
  ['speech', '/audio/speech'],
];
const SPEECH_FORMATS: readonly FakeSpeechFormat[] = ['opus', 'wav', 'pcm', 'mp3'];
const SPEECH_TYPES: Record<FakeSpeechFormat, string> = { opus: 'audio/ogg', wav: 'audio/wav', pcm: 'audio/pcm', mp3: 'audio/mpeg' };
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function startFakeOpenAI(initial: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const basePath = (initial.basePath ?? '/v1').replace(/\/+$/, '');
  const options: FakeOpenAIOptions = { ...initial };
  const behaviours = new Map<FakeEndpoint, EndpointBehaviour>(
    Object.entries(initial.behaviour ?? {}) as Array<[FakeEndpoint, EndpointBehaviour]>,
  );
  const requests: RecordedRequest[] = [];
  const realtimeSessions: RecordedRealtimeSession[] = [];

  /** Takes this request's injected failure, if any, counting down `failureTimes`. */
  function takeFailure(behaviour: EndpointBehaviour): InjectedFailure | undefined {
    if (!behaviour.failure) return undefined;
    if (behaviour.failureTimes === undefined) return behaviour.failure;
    if (behaviour.failureTimes <= 0) return undefined;
    behaviour.failureTimes -= 1;
    return behaviour.failure;
  }

  /** Writes `chunks` as the body with the endpoint's timing, honouring cut / stall failures. */
  async function sendChunks(
    res: http.ServerResponse,
    record: RecordedRequest,
    behaviour: EndpointBehaviour,
    failure: InjectedFailure | undefined,
    status: number,
    headers: http.OutgoingHttpHeaders,
    chunks: readonly Buffer[],
  ): Promise<void> {
    if (behaviour.firstByteDelayMs) await sleep(behaviour.firstByteDelayMs);
    if (res.destroyed) return;
    record.status = status;
    res.writeHead(status, {
      'x-request-id': `req_${randomBytes(12).toString('hex')}`,
      'openai-version': '2020-10-01',
      'openai-processing-ms': String(Math.round(performance.now() - record.receivedAt)),
      ...headers,
    });
    const stopAfter = failure && 'afterChunks' in failure ? failure.afterChunks : Infinity;
    for (const [index, chunk] of chunks.entries()) {
      if (index >= stopAfter) break;
      if (index > 0 && behaviour.chunkGapMs) await sleep(behaviour.chunkGapMs);
      if (res.destroyed) return;
      // Wait until the chunk is handed to the socket, so a cut after it never swallows it.
      await new Promise<void>((resolve) => res.write(chunk, () => resolve()));
      record.chunksSent += 1;
      record.lastByteAt = performance.now();
      record.firstByteAt ??= record.lastByteAt;
    }
    if (failure?.kind === 'cut') {
      record.outcome = 'cut';
      res.socket?.destroy();
    } else if (failure?.kind !== 'stall') {
      res.end();
    }
  }

  function sendError(
    res: http.ServerResponse,
    record: RecordedRequest,
    behaviour: EndpointBehaviour,
    status: number,
    body: object,
    extraHeaders: http.OutgoingHttpHeaders = {},
  ): Promise<void> {
    const headers = { 'content-type': 'application/json', ...extraHeaders };
    return sendChunks(res, record, behaviour, undefined, status, headers, [Buffer.from(JSON.stringify(body))]);
  }

  async function answer(endpoint: FakeEndpoint, res: http.ServerResponse, record: RecordedRequest, model: string) {
    const behaviour = behaviours.get(endpoint) ?? {};
    const failure = takeFailure(behaviour);
    if (failure?.kind === 'hang') return;
    if (failure?.kind === 'status') {
      const retryHeader = failure.retryAfterMs === undefined ? {} : { 'retry-after-ms': String(failure.retryAfterMs) };
      const body = openAIErrorBody(failure.status, model, failure.message, failure.code);
      return sendError(res, record, behaviour, failure.status, body, retryHeader);
    }
    const key = bearerKey(record.headers);
    if (options.apiKey !== undefined && key !== options.apiKey) {
      return sendError(res, record, behaviour, 401, openAIErrorBody(401, model, undefined, undefined, key));
    }
    if (options.models && !options.models.includes(model)) {
      return sendError(res, record, behaviour, 404, openAIErrorBody(404, model));
    }

    if (endpoint === 'transcriptions') {
      const audio = record.files.find((file) => file.field === 'file');
      if (!audio || !record.fields.model) {
        return sendError(res, record, behaviour, 400, openAIErrorBody(400, model, "'file' and 'model' are required"));
      }
      const transcript = options.transcript;
      const text =
        typeof transcript === 'string' ? transcript
        : transcript ? await transcript(audio.bytes)
        : await recogniseSpeech(audio.bytes);
      const asText = record.fields.response_format === 'text';
      const body = asText ? `${text}\n` : JSON.stringify({ text, usage: { type: 'duration', seconds: 1 } });
      const type = asText ? 'text/plain; charset=utf-8' : 'application/json';
      return sendChunks(res, record, behaviour, failure, 200, { 'content-type': type }, [Buffer.from(body)]);
    }

    const body = (record.json ?? {}) as Record<string, unknown>;
    if (endpoint === 'chat') {
      const turns = readChatTurns(body.messages);
      if (!turns || body.stream !== true) {
        const message = 'The fake answers only streamed chat completions with a messages array.';
        return sendError(res, record, behaviour, 400, openAIErrorBody(400, model, message));
      }
      const replyText = await (options.reply ?? defaultReply)({ model, messages: turns, body });
      const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
      const events = chatCompletionEvents(model, replyText, includeUsage).map((event) => Buffer.from(event));
      const headers = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };
      return sendChunks(res, record, behaviour, failure, 200, headers, events);
    }

    const input = body.input;
    if (typeof input !== 'string' || input.trim() === '' || typeof body.voice !== 'string') {
      return sendError(res, record, behaviour, 400, openAIErrorBody(400, model, "'input' and 'voice' are required"));
    }
    // OpenAI's default is mp3; this fake serves the four formats the assistant can ask for.
    const format = (body.response_format ?? 'mp3') as FakeSpeechFormat;
    const served = options.speechFormats ?? SPEECH_FORMATS;
    if (typeof format !== 'string' || !served.includes(format)) {
      const message = `Invalid value: '${String(format)}'. Supported values are: ${served.map((f) => `'${f}'`).join(', ')}.`;
      const error = openAIErrorBody(400, model, message, 'invalid_value');
      return sendError(res, record, behaviour, 400, { error: { ...error.error, param: 'response_format' } });
    }
    const audio = await synthesizeSpeech(input, format, options.speechSampleRate);
    const size = options.speechChunkBytes ?? 2048;
    const chunks: Buffer[] = [];
    for (let at = 0; at < audio.length; at += size) chunks.push(audio.subarray(at, at + size));
    return sendChunks(res, record, behaviour, failure, 200, { 'content-type': SPEECH_TYPES[format] }, chunks);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, record: RecordedRequest) {
    const body = Buffer.concat(await req.toArray());
    record.receivedAt = performance.now();
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const contentType = req.headers['content-type'] ?? '';
    if (contentType.startsWith('multipart/form-data')) {
      // Node's fetch Request (undici) is a full multipart parser; no busboy/multer installed.
      const form = await new Request(url, { method: 'POST', headers: { 'content-type': contentType }, body }).formData();
      for (const [field, value] of form.entries()) {
        if (typeof value === 'string') record.fields[field] = value;
        else record.files.push({ field, filename: value.name, type: value.type, bytes: Buffer.from(await value.arrayBuffer()) });
      }
    } else if (contentType.startsWith('application/json')) {
      record.json = JSON.parse(body.toString('utf8'));
    }

    const azure = /^\/openai\/deployments\/([^/]+)(\/.*)$/.exec(url.pathname);
    const apiPath = azure ? azure[2] : url.pathname.startsWith(`${basePath}/`) ? url.pathname.slice(basePath.length) : '';
    const endpoint = ENDPOINT_PATHS.find(([, path]) => path === apiPath)?.[0];
    const jsonModel = (record.json as { model?: unknown } | undefined)?.model;
    const model = azure?.[1] ?? (typeof jsonModel === 'string' ? jsonModel : record.fields.model ?? '');
    if (!endpoint || req.method !== 'POST') {
      const message = `Invalid URL (${req.method} ${url.pathname})`;
      return sendError(res, record, {}, 404, openAIErrorBody(400, model, message));
    }
    record.endpoint = endpoint;
    return answer(endpoint, res, record, model);
  }

  const server = http.createServer((req, res) => {
    let markClosed: (outcome: RequestOutcome) => void = () => {};
    const record: RecordedRequest = {
      endpoint: 'unknown',
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      remotePort: req.socket.remotePort,
      fields: {},
      files: [],
      receivedAt: performance.now(),
      chunksSent: 0,
      outcome: 'pending',
      closed: new Promise((resolve) => (markClosed = resolve)),
    };
    requests.push(record);
    res.on('close', () => {
      if (record.outcome === 'pending') record.outcome = res.writableFinished ? 'complete' : 'client_closed';
      markClosed(record.outcome);
    });
    handle(req, res, record).catch((error: unknown) => {
      if (res.headersSent) return void res.destroy();
      const message = `Fake OpenAI failed: ${error instanceof Error ? error.message : String(error)}`;
      void sendError(res, record, {}, 500, openAIErrorBody(500, '', message));
    });
  });

  const realtime = attachRealtime(server, {
    basePath,
    options,
    behaviour: () => behaviours.get('realtime') ?? {},
    takeFailure,
    sessions: realtimeSessions,
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(initial.port ?? 0, initial.host ?? '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = initial.host ?? '127.0.0.1';

  return {
    baseURL: `http://${host.includes(':') ? `[${host}]` : host}:${port}${basePath}`,
    port,
    requests,
    realtimeSessions,
    requestsTo: (endpoint) => requests.filter((record) => record.endpoint === endpoint),
    setBehaviour: (endpoint, behaviour) => void behaviours.set(endpoint, { ...behaviour }),
    configure: (changes) => void Object.assign(options, changes),
    reset() {
      requests.length = 0;
      realtimeSessions.length = 0;
      behaviours.clear();
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        realtime.close();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** The key the client sent: `Authorization: Bearer …` (OpenAI) or `api-key` (Azure). */
function bearerKey(headers: http.IncomingHttpHeaders): string | undefined {
  const bearer = /^Bearer (.*)$/i.exec(headers.authorization ?? '')?.[1];
  const azureKey = headers['api-key'];
  return bearer ?? (typeof azureKey === 'string' ? azureKey : undefined);
}
