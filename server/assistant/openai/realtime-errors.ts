/**
 * What goes wrong on a speech-to-speech Realtime socket, in words a user understands: a refused
 * upgrade (bad key, unknown model, rate limit), an `error` event, a failed `response.done`, the
 * session's expiry, a connection lost mid-reply.
 */
import type { RealtimeError } from 'openai/resources/realtime/realtime';
import { EngineError } from '../engine.js';
import { RealtimeConnectError } from './realtime-socket.js';

/** What the messages name: the settings to check and the server. */
export interface RealtimeFailureContext {
  model: string;
  keySetting: string;
  serverSetting: string;
  host: string;
}

function clip(text: string, max = 160): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

/** The socket could not be opened. */
export function connectFailure(error: unknown, context: RealtimeFailureContext): EngineError {
  const status = error instanceof RealtimeConnectError ? error.status : undefined;
  const make = (kind: EngineError['kind'], message: string) => new EngineError(kind, message, { cause: error });
  if (status === 401) return make('auth', `The OpenAI API key was rejected (401). Check ${context.keySetting}.`);
  if (status === 403) return make('auth', `The OpenAI API key may not use the model "${context.model}" (403). Check REALTIME_MODEL.`);
  if (status === 404) return make('not_found', `The Realtime model "${context.model}" was not found (404). Check REALTIME_MODEL.`);
  if (status === 429) return make('rate_limit', 'OpenAI is limiting requests right now (429). Wait a moment and try again.');
  if (status !== undefined && status >= 500) return make('server', `OpenAI had a server error (${status}). Try again in a moment.`);
  if (status !== undefined) return make('bad_request', `OpenAI refused the Realtime connection (${status}).`);
  return make('unavailable', `Could not reach the OpenAI Realtime API at ${context.host}. Check the network and ${context.serverSetting}.`);
}

/** An `error` event, or the error of a failed response. */
export function eventFailure(error: Partial<RealtimeError>, context: RealtimeFailureContext): EngineError {
  const code = error.code ?? '';
  const message = clip(error.message ?? 'unknown error');
  if (code === 'session_expired') return new EngineError('timeout', 'The OpenAI Realtime session reached its time limit; a new one is opening. Please ask again.');
  if (code === 'invalid_api_key') return new EngineError('auth', `The OpenAI API key was rejected. Check ${context.keySetting}.`);
  if (code === 'model_not_found') return new EngineError('not_found', `The Realtime model "${context.model}" was not found. Check REALTIME_MODEL.`);
  if (code === 'insufficient_quota') return new EngineError('rate_limit', 'The OpenAI account has run out of credit. Check its plan and billing.');
  if (code === 'rate_limit_exceeded' || error.type === 'rate_limit_error' || error.type === 'requests' || error.type === 'tokens') {
    return new EngineError('rate_limit', 'OpenAI is limiting requests right now. Wait a moment and try again.');
  }
  if (error.type === 'server_error') return new EngineError('server', `OpenAI had a server error: ${message}`);
  return new EngineError('bad_request', `OpenAI refused the spoken reply: ${message}`);
}

/** The socket closed while a reply was coming. */
export function cutFailure(code: number): EngineError {
  return new EngineError('stream_cut', `The spoken reply from OpenAI was cut off (the connection closed, ${code}). Try again.`);
}
