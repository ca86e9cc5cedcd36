/**
 * The three stages of the assistant (transcriber, chat model, speaker) and what flows between
 * them. Each stage has its own provider (offline, OpenAI); the session drives them, and providers
 * never see the session, the peer or each other.
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

export type ProviderName = 'offline' | 'openai';

/** Stage 1: speech to text. */
export interface Transcriber {
  readonly provider: ProviderName;
  /** One upload of the whole segment. Resolves to '' when nothing intelligible was said. */
  transcribe(segment: MicSegment, signal: AbortSignal): Promise<string>;
  /**
   * Streamed transcription for one browser session (STT_STREAMING), when this provider and the
   * settings allow it: the mic audio goes in while the user is still talking.
   */
  openLive?(): LiveTranscriber | undefined;
  /** A turn may come soon: get ready for it (e.g. open connections). Cheap to call often, never throws. */
  prewarm?(): void;
}

/** Stage 2: the (vision) chat model. */
export interface ChatModel {
  readonly provider: ProviderName;
  /** Streams the reply as text deltas. `history` excludes `question`. */
  chat(history: readonly ChatMessage[], question: ChatMessage, signal: AbortSignal): AsyncIterable<string>;
  prewarm?(): void;
}

/** Stage 3: text to speech. */
export interface Speaker {
  readonly provider: ProviderName;
  /**
   * Streams one sentence of speech as Opus packets (48 kHz clock, each a whole packet for one RTP
   * payload), yielded as they become ready: never held back for the end of the response.
   */
  speak(sentence: string, signal: AbortSignal): AsyncIterable<Buffer>;
  prewarm?(): void;
}

/** The three stages the session drives, each from its own provider (see server/engines.ts). */
export interface AssistantEngine {
  /** The provider of every stage, or `mixed`; `realtime` for the speech-to-speech engine. */
  readonly name: ProviderName | 'mixed' | 'realtime';
  /** Set for ASSISTANT_ENGINE=realtime: turns go to it instead of the three stages. */
  readonly speechToSpeech?: SpeechToSpeech;
  readonly transcriber: Transcriber;
  readonly chatModel: ChatModel;
  readonly speaker: Speaker;
  /** Prewarms every stage. */
  prewarm(): void;
}

/** The rate streamed transcription takes (OpenAI Realtime: 24 kHz mono PCM16). */
export const LIVE_SAMPLE_RATE = 24_000;

/** One browser session's streamed speech-to-text connection; closed when the session ends. */
export interface LiveTranscriber {
  /** A talk starts: audio appended to the returned turn from now on is its question. */
  begin(onPartial: (textSoFar: string) => void): LiveTurn;
  close(): void;
}

/** The streamed transcription of one held-Space turn. */
export interface LiveTurn {
  /** Mic audio at LIVE_SAMPLE_RATE, in order; gaps already filled with silence. */
  append(pcm: Int16Array): void;
  /**
   * Release: resolves with the whole transcript. Rejects when the stream failed (could not open,
   * dropped, refused), so the caller can upload the recorded segment instead.
   */
  finish(signal: AbortSignal): Promise<string>;
  /** The turn is dropped (cancelled, no speech): nothing more is sent for it. */
  discard(): void;
}

/**
 * A speech-to-speech model (OpenAI Realtime): it hears the user's voice, sees the frame and
 * answers with its own voice. One conversation per browser call.
 */
export interface SpeechToSpeech {
  /**
   * Opens the call's conversation (its connection opens now, ahead of the first turn);
   * `onConnection` hears each open and each loss (with why) of its connection.
   */
  openCall(onConnection?: (event: { open: boolean; error?: EngineError }) => void): SpeechToSpeechCall;
}

/**
 * One call's conversation. Push-to-talk: `appendAudio` while Space is held, `respond({ commit })`
 * at release. Hands-free plugs in the same way: whatever decides the turn has ended (the
 * project's VAD, or the server's turn detection once the session asks for it) calls
 * `respond({ commit: true })`, and barge-in is `reply.cancel(playedMs)`.
 */
export interface SpeechToSpeechCall {
  /** Mic audio at LIVE_SAMPLE_RATE (24 kHz PCM16), in order. */
  appendAudio(pcm: Int16Array): void;
  /** Drops audio appended but not committed (a new talk, an accidental press). */
  clearAudio(): void;
  respond(request: SpeechToSpeechRequest, handlers: SpeechToSpeechHandlers): SpeechToSpeechReply;
  /**
   * Hands-free: the Realtime server's own turn detection finds the start and end of speech in the
   * audio appended all along, and commits it; `null` (push-to-talk) leaves the commit to the client.
   * The server never starts or interrupts a reply by itself: the handlers decide.
   */
  setTurnDetection(detection: ServerTurnDetection | null): void;
  /** Removes a committed user item that is not to be answered (a cough over the reply). */
  dropItem(itemId: string): void;
  /** The conversation so far (a reloaded page's history), given to the model before the first turn. */
  remember(turns: ReadonlyArray<{ role: 'user' | 'assistant'; text: string }>): void;
  close(): void;
}

export interface ServerTurnDetection {
  /** Speech probability that counts as speech, 0–1. */
  threshold: number;
  /** Audio before the detected start that is kept in the turn. */
  prefixPaddingMs: number;
  /** Silence that ends the turn. */
  silenceMs: number;
  onSpeechStarted(audioStartMs: number): void;
  onSpeechStopped(audioEndMs: number): void;
  /** The server committed the speech as the user item `itemId`: answer it with `respond({ committedItemId })`. */
  onCommitted(itemId: string): void;
}

export interface SpeechToSpeechRequest {
  /** Commit the appended audio as the user's turn (a spoken question). */
  commit?: boolean;
  /** Answer the user item the server's turn detection already committed. */
  committedItemId?: string;
  /** A typed question. */
  text?: string;
  /** The newest frame; awaited after the commit is sent, before the response is asked for. */
  image?: Promise<FrameImage | undefined>;
}

export interface SpeechToSpeechHandlers {
  onCommitSent?(): void;
  onResponseRequested?(): void;
  /** What the user said, once the input transcription has it. */
  onUserTranscript?(text: string): void;
  /** Reply audio, 24 kHz mono PCM16, as it arrives. */
  onAudio(pcm: Int16Array): void;
  /** The reply's words, as they arrive. */
  onTranscriptDelta(text: string): void;
}

export interface SpeechToSpeechReply {
  /** Resolves when the reply is complete (or cancelled); rejects with an EngineError. Resolves `nothing_heard` for an empty commit. */
  readonly done: Promise<'completed' | 'cancelled' | 'nothing_heard'>;
  /**
   * Stops the reply: `response.cancel` if it is still coming, and the model keeps only the first
   * `playedMs` of its audio (what the user heard).
   */
  cancel(playedMs: number): void;
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
