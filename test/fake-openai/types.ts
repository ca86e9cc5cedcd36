/** The fake OpenAI server's public types: settable behaviour, recorded requests, options. */
import type http from 'node:http';
import type { ChatReplyInput } from './wire.js';

export type FakeEndpoint = 'transcriptions' | 'chat' | 'speech' | 'realtime';

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
  /**
   * Fixed transcript, or a function of the received audio (a WAV). Default: pocketsphinx's words.
   * Realtime commits get the fixed one only when their audio holds sound (louder than −45 dBFS).
   */
  transcript?: string | ((audio: Buffer) => string | Promise<string>);
  /** The assistant's reply. Default: echoes the question and describes the image. */
  reply?: (input: ChatReplyInput) => string | Promise<string>;
  /** Size of the speech body chunks (default 2048 bytes; Ogg pages are split across them). */
  speechChunkBytes?: number;
  /** The `response_format`s `/audio/speech` serves (default opus, wav, pcm, mp3); others get a 400. */
  speechFormats?: ReadonlyArray<'opus' | 'wav' | 'pcm' | 'mp3'>;
  /** Sample rate of wav and mp3 speech (default 24000, as OpenAI's; pcm is always 24000). */
  speechSampleRate?: number;
  behaviour?: Partial<Record<FakeEndpoint, EndpointBehaviour>>;
  /** Speech-to-speech sessions (`/realtime?model=…`): injected failures and pacing. */
  realtimeConversation?: RealtimeConversationOptions;
}

export interface RealtimeConversationOptions {
  /** Audio per `response.output_audio.delta`, ms (default 100). */
  audioDeltaMs?: number;
  /** Every response fails with this error in `response.done` (status `failed`), e.g. a rate limit. */
  responseError?: { type: string; code: string; message: string };
  /** After this long the session expires: an `error` event (`session_expired`) and the socket closes. */
  expireAfterMs?: number;
  /** The socket drops after this many audio deltas of a response (a connection lost mid-reply). */
  cutAfterAudioDeltas?: number;
}

/** A conversation item as the fake holds it (speech-to-speech sessions). */
export interface RecordedRealtimeItem {
  id: string;
  role: 'user' | 'assistant' | 'system';
  /** `input_audio`, `input_image`, `input_text`, `output_audio`. */
  contentTypes: string[];
  /** The decoded image of an `input_image` part. */
  image?: { mimeType: string; bytes: Buffer; detail?: string };
  text?: string;
  createdAt: number;
  deletedAt?: number;
}

/** One `response.create` and what came of it. */
export interface RecordedRealtimeResponse {
  id: string;
  /** `performance.now()` when `response.create` arrived / the first audio delta went out / `response.done` went out. */
  requestedAt: number;
  firstAudioAt?: number;
  doneAt?: number;
  /** What the model was asked: the conversation as chat turns (user audio as its transcript). */
  question?: string;
  image?: Buffer;
  text?: string;
  itemId?: string;
  audioSentMs: number;
  status: 'in_progress' | 'completed' | 'cancelled' | 'failed';
  cancelledAt?: number;
}

export interface FakeOpenAI {
  /** e.g. `http://127.0.0.1:40123/v1`: what OPENAI_BASE_URL should be. */
  readonly baseURL: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** Realtime WebSocket sessions (`<base>/realtime`), oldest first. */
  readonly realtimeSessions: RecordedRealtimeSession[];
  requestsTo(endpoint: FakeEndpoint): RecordedRequest[];
  setBehaviour(endpoint: FakeEndpoint, behaviour: EndpointBehaviour): void;
  configure(options: Omit<FakeOpenAIOptions, 'host' | 'port' | 'basePath' | 'behaviour'>): void;
  /** Forgets recorded requests and all behaviours. */
  reset(): void;
  close(): Promise<void>;
}

/** One client or server event on a Realtime WebSocket, as recorded. */
export interface RealtimeEventRecord {
  direction: 'in' | 'out';
  type: string;
  /** `performance.now()` when it was received / sent. */
  at: number;
}

/** One `input_audio_buffer.commit` and what came of it. */
export interface RealtimeCommitRecord {
  itemId?: string;
  receivedAt: number;
  /** Audio in the committed buffer, ms. */
  audioMs: number;
  /** What was recognised in it, and when the `…transcription.completed` event went out. */
  transcript?: string;
  /** Committed by the server's turn detection, not by `input_audio_buffer.commit`. */
  byServer?: boolean;
  firstDeltaAt?: number;
  completedAt?: number;
}

export interface RecordedRealtimeSession {
  /** Path and query as received, e.g. `/v1/realtime?intent=transcription`. */
  path: string;
  headers: http.IncomingHttpHeaders;
  /** HTTP status the upgrade was refused with, if it was. */
  refusedWith?: number;
  openedAt: number;
  closedAt?: number;
  /** The session configuration after every `session.update`. */
  session: Record<string, unknown>;
  events: RealtimeEventRecord[];
  /** PCM16 bytes received in `input_audio_buffer.append` events (base64-decoded). */
  appendedBytes: number;
  commits: RealtimeCommitRecord[];
  /** Speech-to-speech sessions: the conversation's items (deleted ones marked), responses and truncations. */
  items: RecordedRealtimeItem[];
  responses: RecordedRealtimeResponse[];
  truncations: Array<{ itemId: string; audioEndMs: number; at: number }>;
  /** Turn detection's `input_audio_buffer.speech_started` (audio_start_ms) / `.speech_stopped` (audio_end_ms). */
  speechEvents: Array<{ type: 'speech_started' | 'speech_stopped'; audioMs: number; at: number }>;
  /** Resolves when the socket has closed. */
  closed: Promise<void>;
}
