/**
 * Turns what the `openai` package throws into EngineErrors with short, plain messages, and keeps
 * user cancels (aborts) apart from failures.
 */
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { EngineError } from '../engine.js';

/** Thrown when the caller's AbortSignal fired: a cancel, not a failure. `cause` is the signal's reason. */
export class EngineAbortError extends Error {
  override name = 'AbortError';
  constructor(reason?: unknown) {
    super('The request was cancelled.', { cause: reason });
  }
}

/** True for a cancel (our EngineAbortError, the package's APIUserAbortError, a fetch AbortError). */
export function isAbortError(error: unknown): boolean {
  if (error instanceof EngineAbortError || error instanceof APIUserAbortError) return true;
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError';
}

export type OpenAICall = 'transcription' | 'chat' | 'speech';

/** What a failure message needs to name. */
export interface FailureContext {
  call: OpenAICall;
  model: string;
  /** The setting that names the model, e.g. CHAT_MODEL. */
  modelSetting: string;
  /** The setting that holds the key, e.g. OPENAI_API_KEY. */
  keySetting: string;
  /** Host of the API base URL, for "could not reach". */
  host: string;
  /** The setting that points at the server, e.g. STT_BASE_URL or OPENAI_BASE_URL. */
  baseURLSetting?: string;
  timeoutMs: number;
  /** Whether response bytes had started arriving when it failed. */
  streaming: boolean;
}

const CALL_WORDS: Record<OpenAICall, string> = {
  transcription: 'speech-to-text request',
  chat: 'reply',
  speech: 'spoken reply',
};

function clip(text: string, max = 160): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

/** The body's `error.code` (e.g. `insufficient_quota`), if the API sent one. */
function apiCode(error: APIError): string | undefined {
  const code = (error.error as { code?: unknown } | undefined)?.code ?? error.code;
  return typeof code === 'string' ? code : undefined;
}

/** The API's own message (the package prefixes `error.message` with the status). */
function apiMessage(error: APIError): string {
  const message = (error.error as { message?: unknown } | undefined)?.message;
  return clip(typeof message === 'string' ? message : error.message);
}

/** The EngineError for a stream that stopped early (no finish_reason, or the connection dropped). */
export function streamCutError(context: Pick<FailureContext, 'call'>, cause?: unknown): EngineError {
  return new EngineError('stream_cut', `The ${CALL_WORDS[context.call]} from OpenAI was cut off. Try again.`, { cause });
}

/** The EngineError for a stream that went silent for longer than the timeout. */
export function stalledError(context: Pick<FailureContext, 'call' | 'timeoutMs'>): EngineError {
  const seconds = Math.round(context.timeoutMs / 100) / 10;
  return new EngineError('timeout', `The ${CALL_WORDS[context.call]} from OpenAI stalled for ${seconds} s. Try again.`);
}

/** Maps anything the package threw to an EngineError (never call it for aborts; see isAbortError). */
export function toEngineError(error: unknown, context: FailureContext): EngineError {
  if (error instanceof EngineError) return error;
  const what = CALL_WORDS[context.call];
  const make = (kind: EngineError['kind'], message: string) => new EngineError(kind, message, { cause: error });

  if (error instanceof APIConnectionTimeoutError) {
    const seconds = Math.round(context.timeoutMs / 100) / 10;
    return make('timeout', `OpenAI did not answer the ${what} within ${seconds} s. Try again.`);
  }
  if (error instanceof APIConnectionError) {
    return make('unavailable', `Could not reach the OpenAI API at ${context.host}. Check the network and ${context.baseURLSetting ?? 'OPENAI_BASE_URL'}.`);
  }
  if (error instanceof APIError && error.status === undefined) {
    // An error event inside an already-open stream (`data: {"error": …}`).
    return make(context.streaming ? 'stream_cut' : 'server', `OpenAI stopped the ${what}: ${apiMessage(error)}`);
  }
  if (error instanceof APIError) {
    const status = error.status;
    if (status === 401) return make('auth', `The OpenAI API key was rejected (401). Check ${context.keySetting}.`);
    if (status === 403) {
      return make('auth', `The OpenAI API key may not use the model "${context.model}" (403). Check ${context.modelSetting}.`);
    }
    if (status === 404) {
      return make('not_found', `The model "${context.model}" was not found (404). Check ${context.modelSetting}.`);
    }
    if (status === 429) {
      return apiCode(error) === 'insufficient_quota' ?
          make('rate_limit', 'The OpenAI account has run out of credit (429). Check its plan and billing.')
        : make('rate_limit', 'OpenAI is limiting requests right now (429). Wait a moment and try again.');
    }
    if (status >= 500) return make('server', `OpenAI had a server error (${status}). Try again in a moment.`);
    return make('bad_request', `OpenAI refused the ${what} (${status}): ${apiMessage(error)}`);
  }
  // Past the headers, fetch reports a dropped connection as a plain TypeError ("terminated").
  if (context.streaming) return streamCutError(context, error);
  const detail = error instanceof Error ? error.message : String(error);
  return make('server', `The OpenAI ${what} failed: ${clip(detail)}`);
}
