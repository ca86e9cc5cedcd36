/**
 * The three calls every assistant engine (offline, OpenAI) implements. The session drives them;
 * engines never see the session, the peer or each other.
 */

/** A held-Space recording, trimmed of leading/trailing silence, mono 16-bit PCM. */
export interface MicSegment {
  /** Mono PCM samples at `sampleRate`. */
  pcm: Int16Array;
  sampleRate: number;
  /** Length of the trimmed segment in ms. */
  durationMs: number;
  /** How much of it the voice-activity detector judged to be speech, in ms. */
  speechMs: number;
}

/** A still of the live video, ready to send to a vision model. */
export interface FrameImage {
  jpeg: Buffer;
  width: number;
  height: number;
  /** Which source it came from when the user asked. */
  source: 'camera' | 'screen';
}

export interface ChatMessage {
  role: 'user' | 'assistant';
  text: string;
  /** User turns may carry the frame they were asked about. */
  image?: FrameImage;
}

export interface AssistantEngine {
  readonly name: 'offline' | 'openai';
  /** Speech to text. Resolves to '' when nothing intelligible was said. */
  transcribe(segment: MicSegment, signal: AbortSignal): Promise<string>;
  /** Streams the reply as text deltas. `history` excludes `question`. */
  chat(history: readonly ChatMessage[], question: ChatMessage, signal: AbortSignal): AsyncIterable<string>;
  /** Streams one sentence of speech as Ogg-Opus bytes, in whatever chunks they arrive. */
  speak(sentence: string, signal: AbortSignal): AsyncIterable<Buffer>;
  /** A turn may come soon: get ready for it (e.g. open connections). Cheap to call often, never throws. */
  prewarm?(): void;
}

/** A failure the user should hear about in plain words (bad key, rate limit, engine missing…). */
export class EngineError extends Error {
  constructor(
    readonly kind: 'auth' | 'not_found' | 'rate_limit' | 'server' | 'timeout' | 'stream_cut' | 'unavailable' | 'bad_request',
    /** Short, plain message shown to the user. */
    readonly userMessage: string,
    options?: { cause?: unknown },
  ) {
    super(userMessage, options);
    this.name = 'EngineError';
  }
}
