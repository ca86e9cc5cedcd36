/**
 * What the three OpenAI stages share: one `openai` package client per stage (its own base URL and
 * key: OpenAI, Azure OpenAI, or any OpenAI-compatible server), connection warm-ups, failure
 * mapping, and the guards around streamed responses.
 */
import OpenAI, { AzureOpenAI } from 'openai';
import type { Settings } from '../../config.js';
import type { StageSettings } from '../../stage-settings.js';
import { ConnectionWarmer } from './connection-warmer.js';
import { EngineAbortError, type FailureContext, isAbortError, type OpenAICall, stalledError, toEngineError } from './errors.js';
import { rehearseCalls } from './rehearsal.js';

export { EngineAbortError, isAbortError };

/** The settings every OpenAI stage reads. */
export type OpenAIClientSettings = Pick<Settings, 'MODEL_TIMEOUT_MS' | 'MODEL_MAX_RETRIES' | 'OPENAI_API_VERSION'>;

/** Used when AZURE_OPENAI_ENDPOINT is set and OPENAI_API_VERSION is not. */
export const DEFAULT_AZURE_API_VERSION = '2025-04-01-preview';

/**
 * Sent as the key to a server given by a base URL alone (a local Ollama, vLLM or LM Studio needs
 * none, but the package refuses to run without one).
 */
const NO_KEY = 'no-key-set';

/*
 * Retries (MODEL_MAX_RETRIES): the package retries (with backoff, honouring `retry-after`) only
 * while it has no usable response yet: connection errors, timeouts before the headers, and
 * 408/409/429/5xx statuses. Once it hands us a response, it never re-sends, and neither do we: a
 * chat or speech stream that breaks mid-way fails as `stream_cut` instead of replaying words or
 * audio the user already got. So retrying is safe for all three calls; the default is one retry,
 * because a person is waiting (a hung API costs (retries + 1) × MODEL_TIMEOUT_MS).
 */

// One fetch for every client and warmer, so warm-ups open connections in the clients' pool
// (undici's global one); one warmer per base URL, however many stages share it.
const sharedFetch = (input: string | URL | Request, init?: RequestInit) => globalThis.fetch(input, init);
const warmers = new Map<string, ConnectionWarmer>();
let rehearsal: Promise<boolean> | undefined;

function warmerFor(baseURL: string): ConnectionWarmer {
  let warmer = warmers.get(baseURL);
  if (!warmer) {
    warmer = new ConnectionWarmer(baseURL, sharedFetch);
    warmers.set(baseURL, warmer);
  }
  return warmer;
}

/** The `openai` package client of one stage, with what its calls need around it. */
export class OpenAIStageClient {
  readonly client: OpenAI;
  readonly keySetting: string;
  private readonly warmer: ConnectionWarmer;

  constructor(
    readonly stage: StageSettings,
    readonly settings: OpenAIClientSettings,
  ) {
    const common = { timeout: settings.MODEL_TIMEOUT_MS, maxRetries: settings.MODEL_MAX_RETRIES, fetch: sharedFetch };
    this.keySetting = stage.keySetting;
    if (stage.azureEndpoint) {
      this.client = new AzureOpenAI({
        ...common,
        endpoint: stage.azureEndpoint,
        apiKey: stage.apiKey,
        apiVersion: settings.OPENAI_API_VERSION ?? DEFAULT_AZURE_API_VERSION,
      });
    } else {
      this.client = new OpenAI({ ...common, apiKey: stage.apiKey ?? NO_KEY, baseURL: stage.baseURL ?? null });
    }
    this.warmer = warmerFor(this.client.baseURL);
  }

  /** The API base URL requests go to. */
  get baseURL(): string {
    return this.client.baseURL;
  }

  /**
   * Gets the next turn's requests ready: opens connections to the API (no credentials, nothing
   * billed) and, the first time, rehearses the calls locally. Cheap to call often; never throws.
   */
  prewarm(): void {
    this.warmer.warm();
    rehearsal ??= rehearseCalls();
  }

  /** Resolves when the warm-ups started so far are over (for tests). */
  async prewarmSettled(): Promise<void> {
    await Promise.all([this.warmer.settled(), rehearsal]);
  }

  context(call: OpenAICall, model: string, modelSetting: string): FailureContext {
    return {
      call,
      model,
      modelSetting,
      keySetting: this.keySetting,
      baseURLSetting: this.stage.baseURLSetting,
      host: new URL(this.client.baseURL).host,
      timeoutMs: this.settings.MODEL_TIMEOUT_MS,
      streaming: false,
    };
  }

  /** What to throw for `error`: a cancel stays a cancel; everything else becomes an EngineError. */
  failure(error: unknown, callerSignal: AbortSignal, streaming: boolean, context: FailureContext, guard?: StreamGuard): Error {
    if (callerSignal.aborted) return new EngineAbortError(callerSignal.reason);
    if (guard?.stalled) return stalledError(context);
    if (isAbortError(error)) return new EngineAbortError(error);
    return toEngineError(error, { ...context, streaming });
  }
}

/**
 * The caller's signal joined with our own: ours fires when a started stream goes silent for longer
 * than the timeout (the package's timeout stops counting once the headers arrive) or when the
 * consumer stops reading early, so the HTTP request is always closed.
 */
export class StreamGuard {
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

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new EngineAbortError(signal.reason);
}

/**
 * `request`, but rejecting as soon as `signal` fires: the package only looks at the signal
 * between attempts, so a cancel during a retry back-off (up to a minute for `retry-after`)
 * would otherwise wait it out.
 */
export function untilAborted<T>(request: Promise<T>, signal: AbortSignal): Promise<T> {
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
