/**
 * The assistant engine backed by the OpenAI API (or Azure OpenAI, or any OpenAI-compatible server
 * via OPENAI_BASE_URL), through the official `openai` package only.
 */
import OpenAI, { AzureOpenAI, toFile } from 'openai';
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { Settings } from '../../config.js';
import { encodeWav } from '../../media/wav.js';
import type { AssistantEngine, ChatMessage, MicSegment } from '../engine.js';
import { ConnectionWarmer } from './connection-warmer.js';
import {
  EngineAbortError,
  type FailureContext,
  isAbortError,
  type OpenAICall,
  stalledError,
  streamCutError,
  toEngineError,
} from './errors.js';
import { rehearseCalls } from './rehearsal.js';

export { EngineAbortError, isAbortError };

export type OpenAIEngineSettings = Pick<
  Settings,
  | 'OPENAI_API_KEY'
  | 'OPENAI_BASE_URL'
  | 'MODEL_MAX_RETRIES'
  | 'STT_MODEL'
  | 'CHAT_MODEL'
  | 'TTS_MODEL'
  | 'TTS_VOICE'
  | 'TTS_INSTRUCTIONS'
  | 'IMAGE_DETAIL'
  | 'MODEL_TIMEOUT_MS'
  | 'SYSTEM_PROMPT'
  | 'AZURE_OPENAI_ENDPOINT'
  | 'AZURE_OPENAI_API_KEY'
  | 'OPENAI_API_VERSION'
>;

/** Used when AZURE_OPENAI_ENDPOINT is set and OPENAI_API_VERSION is not. */
export const DEFAULT_AZURE_API_VERSION = '2025-04-01-preview';

/*
 * Retries (MODEL_MAX_RETRIES): the package retries (with backoff, honouring `retry-after`) only
 * while it has no usable response yet: connection errors, timeouts before the headers, and
 * 408/409/429/5xx statuses. Once it hands us a response, it never re-sends, and neither do we: a
 * chat or speech stream that breaks mid-way fails as `stream_cut` instead of replaying words or
 * audio the user already got. So retrying is safe for all three calls; the default is one retry,
 * because a person is waiting (a hung API costs (retries + 1) × MODEL_TIMEOUT_MS).
 */

/**
 * The caller's signal joined with our own: ours fires when a started stream goes silent for longer
 * than the timeout (the package's timeout stops counting once the headers arrive) or when the
 * consumer stops reading early, so the HTTP request is always closed.
 */
class StreamGuard {
  private readonly own = new AbortController();
  readonly signal: AbortSignal;
  stalled = false;

  constructor(
    readonly callerSignal: AbortSignal,
    private readonly idleMs: number,
  ) {
    this.signal = AbortSignal.any([callerSignal, this.own.signal]);
  }

  /** Awaits the next piece of the stream, failing it as stalled after `idleMs` of silence. */
  async next<T>(pending: Promise<T>): Promise<T> {
    const timer = setTimeout(() => {
      this.stalled = true;
      this.own.abort();
    }, this.idleMs);
    try {
      return await pending;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.own.abort();
  }
}

export class OpenAIEngine implements AssistantEngine {
  readonly name = 'openai' as const;
  private readonly client: OpenAI;
  private readonly keySetting: string;
  private readonly warmer: ConnectionWarmer;
  private rehearsal?: Promise<boolean>;

  constructor(private readonly settings: OpenAIEngineSettings) {
    // One fetch for the client and the warmer, so warm-ups open connections in the client's pool.
    const fetch = (input: string | URL | Request, init?: RequestInit) => globalThis.fetch(input, init);
    const common = { timeout: settings.MODEL_TIMEOUT_MS, maxRetries: settings.MODEL_MAX_RETRIES, fetch };
    if (settings.AZURE_OPENAI_ENDPOINT) {
      this.keySetting = 'AZURE_OPENAI_API_KEY';
      this.client = new AzureOpenAI({
        ...common,
        endpoint: settings.AZURE_OPENAI_ENDPOINT,
        apiKey: settings.AZURE_OPENAI_API_KEY ?? settings.OPENAI_API_KEY,
        apiVersion: settings.OPENAI_API_VERSION ?? DEFAULT_AZURE_API_VERSION,
      });
    } else {
      this.keySetting = 'OPENAI_API_KEY';
      this.client = new OpenAI({ ...common, apiKey: settings.OPENAI_API_KEY, baseURL: settings.OPENAI_BASE_URL });
    }
    this.warmer = new ConnectionWarmer(this.client.baseURL, fetch);
  }

  /**
   * Gets the next turn's requests ready: opens connections to the API (no credentials, nothing
   * billed) and, the first time, rehearses the calls locally. Cheap to call often; never throws.
   */
  prewarm(): void {
    this.warmer.warm();
    this.rehearsal ??= rehearseCalls();
  }

  /** Resolves when the warm-ups started so far are over (for tests). */
  async prewarmSettled(): Promise<void> {
    await Promise.all([this.warmer.settled(), this.rehearsal]);
  }

  /** The API base URL requests go to. */
  get baseURL(): string {
    return this.client.baseURL;
  }

  async transcribe(segment: MicSegment, signal: AbortSignal): Promise<string> {
    const context = this.context('transcription');
    throwIfAborted(signal);
    try {
      const file = await toFile(encodeWav(segment), 'speech.wav', { type: 'audio/wav' });
      const request = this.client.audio.transcriptions.create({ file, model: context.model }, { signal });
      const result = await untilAborted(request, signal);
      return result.text.trim();
    } catch (error) {
      throw this.failure(error, signal, false, context);
    }
  }

  async *chat(history: readonly ChatMessage[], question: ChatMessage, signal: AbortSignal): AsyncIterable<string> {
    const context = this.context('chat');
    throwIfAborted(signal);
    const messages: ChatCompletionMessageParam[] = [
      { role: 'system', content: this.settings.SYSTEM_PROMPT },
      ...[...history, question].map((message) => this.toMessageParam(message)),
    ];
    const guard = new StreamGuard(signal, this.settings.MODEL_TIMEOUT_MS);
    let streaming = false;
    let finished = false;
    try {
      const stream = await untilAborted(
        this.client.chat.completions.create({ model: context.model, stream: true, messages }, { signal: guard.signal }),
        signal,
      );
      streaming = true;
      const chunks = stream[Symbol.asyncIterator]();
      for (let next = await guard.next(chunks.next()); !next.done; next = await guard.next(chunks.next())) {
        const choice = next.value.choices[0];
        if (choice?.delta?.content) yield choice.delta.content;
        if (choice?.finish_reason) finished = true;
      }
    } catch (error) {
      throw this.failure(error, signal, streaming, context, guard);
    } finally {
      guard.close();
    }
    // The package ends a stream quietly when its signal fires; tell why it ended.
    throwIfAborted(signal);
    if (guard.stalled) throw stalledError(context);
    if (!finished) throw streamCutError(context);
  }

  async *speak(sentence: string, signal: AbortSignal): AsyncIterable<Buffer> {
    const context = this.context('speech');
    throwIfAborted(signal);
    const guard = new StreamGuard(signal, this.settings.MODEL_TIMEOUT_MS);
    let streaming = false;
    let receivedBytes = 0;
    try {
      const instructions = this.settings.TTS_INSTRUCTIONS;
      const request = this.client.audio.speech.create(
        {
          model: context.model,
          voice: this.settings.TTS_VOICE,
          input: sentence,
          response_format: 'opus',
          ...(instructions ? { instructions } : {}),
        },
        { signal: guard.signal },
      );
      const response = await untilAborted(request, signal);
      streaming = true;
      if (!response.body) throw streamCutError(context);
      const reader = response.body.getReader();
      try {
        for (let next = await guard.next(reader.read()); !next.done; next = await guard.next(reader.read())) {
          receivedBytes += next.value.byteLength;
          yield Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
        }
      } finally {
        reader.releaseLock();
      }
    } catch (error) {
      throw this.failure(error, signal, streaming, context, guard);
    } finally {
      guard.close();
    }
    if (receivedBytes === 0) throw streamCutError(context);
  }

  private toMessageParam(message: ChatMessage): ChatCompletionMessageParam {
    if (message.role === 'assistant') return { role: 'assistant', content: message.text };
    if (!message.image) return { role: 'user', content: message.text };
    const parts: ChatCompletionContentPart[] = [
      { type: 'text', text: message.text },
      {
        type: 'image_url',
        image_url: {
          url: `data:image/jpeg;base64,${message.image.jpeg.toString('base64')}`,
          detail: this.settings.IMAGE_DETAIL,
        },
      },
    ];
    return { role: 'user', content: parts };
  }

  private context(call: OpenAICall): FailureContext {
    const [model, modelSetting] =
      call === 'transcription' ? [this.settings.STT_MODEL, 'STT_MODEL']
      : call === 'chat' ? [this.settings.CHAT_MODEL, 'CHAT_MODEL']
      : [this.settings.TTS_MODEL, 'TTS_MODEL'];
    return {
      call,
      model,
      modelSetting,
      keySetting: this.keySetting,
      host: new URL(this.client.baseURL).host,
      timeoutMs: this.settings.MODEL_TIMEOUT_MS,
      streaming: false,
    };
  }

  /** What to throw for `error`: a cancel stays a cancel; everything else becomes an EngineError. */
  private failure(
    error: unknown,
    callerSignal: AbortSignal,
    streaming: boolean,
    context: FailureContext,
    guard?: StreamGuard,
  ): Error {
    if (callerSignal.aborted) return new EngineAbortError(callerSignal.reason);
    if (guard?.stalled) return stalledError(context);
    if (isAbortError(error)) return new EngineAbortError(error);
    return toEngineError(error, { ...context, streaming });
  }
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new EngineAbortError(signal.reason);
}

/**
 * `request`, but rejecting as soon as `signal` fires: the package only looks at the signal
 * between attempts, so a cancel during a retry back-off (up to a minute for `retry-after`)
 * would otherwise wait it out.
 */
function untilAborted<T>(request: Promise<T>, signal: AbortSignal): Promise<T> {
  request.catch(() => {}); // its late rejection (APIUserAbortError) is expected after a cancel
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new EngineAbortError(signal.reason));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    const settle = () => signal.removeEventListener('abort', onAbort);
    request.then(
      (value) => (settle(), resolve(value)),
      (error: unknown) => (settle(), reject(error)),
    );
  });
}
