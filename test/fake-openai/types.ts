/** The fake OpenAI server's public types: settable behaviour, recorded requests, options. */
import type http from 'node:http';
import type { ChatReplyInput } from './wire.js';

export type FakeEndpoint = 'transcriptions' | 'chat' | 'speech';

export type InjectedFailure =
  /** Answer with this HTTP status and an OpenAI-shaped JSON error body. */
  | { kind: 'status'; status: number; message?: string; code?: string; retryAfterMs?: number }
  /** Accept the request and never send a byte (the client's timeout fires). */
  | { kind: 'hang' }
  /** Send `afterChunks` body chunks, then destroy the socket. */
  | { kind: 'cut'; afterChunks: number }
  /** Send `afterChunks` body chunks, then end the response normally (truncated but well formed). */
  | { kind: 'end_early'; afterChunks: number }
  /** Send `afterChunks` body chunks, then keep the connection open and silent. */
  | { kind: 'stall'; afterChunks: number };

export interface EndpointBehaviour {
  /** Wait this long before the response headers and first body chunk. */
  firstByteDelayMs?: number;
  /** Wait this long between body chunks. */
  chunkGapMs?: number;
  failure?: InjectedFailure;
  /** How many requests the failure applies to before the endpoint behaves again (default: all). */
  failureTimes?: number;
}

export interface ReceivedFile {
  field: string;
  filename: string;
  type: string;
  bytes: Buffer;
}

export type RequestOutcome = 'pending' | 'complete' | 'client_closed' | 'cut';

export interface RecordedRequest {
  endpoint: FakeEndpoint | 'unknown';
  method: string;
  /** Path and query as received, e.g. `/v1/chat/completions`. */
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The client's side of the connection: requests that share a connection share this port. */
  remotePort?: number;
  /** Parsed JSON body (chat, speech). */
  json?: unknown;
  /** Text fields of a multipart body (transcriptions). */
  fields: Record<string, string>;
  files: ReceivedFile[];
  status?: number;
  /** `performance.now()` when the request body had fully arrived. */
  receivedAt: number;
  /** `performance.now()` when the first / last response body byte was written. */
  firstByteAt?: number;
  lastByteAt?: number;
  chunksSent: number;
  outcome: RequestOutcome;
  /** Resolves when the response is over, with how it ended. */
  closed: Promise<RequestOutcome>;
}

export interface FakeOpenAIOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Path prefix of the API (default `/v1`); other paths get OpenAI's "Invalid URL" 404. */
  basePath?: string;
  /** When set, requests carrying another key get OpenAI's 401 `invalid_api_key`. */
  apiKey?: string;
  /** When set, other models get OpenAI's 404 `model_not_found`. */
  models?: readonly string[];
  /** Fixed transcript, or a function of the received audio. Default: pocketsphinx's words. */
  transcript?: string | ((audio: Buffer) => string | Promise<string>);
  /** The assistant's reply. Default: echoes the question and describes the image. */
  reply?: (input: ChatReplyInput) => string | Promise<string>;
  /** Size of the speech body chunks (default 2048 bytes; Ogg pages are split across them). */
  speechChunkBytes?: number;
  behaviour?: Partial<Record<FakeEndpoint, EndpointBehaviour>>;
}

export interface FakeOpenAI {
  /** e.g. `http://127.0.0.1:40123/v1`: what OPENAI_BASE_URL should be. */
  readonly baseURL: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  requestsTo(endpoint: FakeEndpoint): RecordedRequest[];
  setBehaviour(endpoint: FakeEndpoint, behaviour: EndpointBehaviour): void;
  configure(options: Omit<FakeOpenAIOptions, 'host' | 'port' | 'basePath' | 'behaviour'>): void;
  /** Forgets recorded requests and all behaviours. */
  reset(): void;
  close(): Promise<void>;
}
