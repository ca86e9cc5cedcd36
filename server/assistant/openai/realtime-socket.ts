/**
 * One WebSocket to an OpenAI Realtime endpoint (`<base>/realtime?…`), with the event types of the
 * official `openai` package. Used by streamed transcription (`?intent=transcription`) and by the
 * speech-to-speech engine (`?model=…`, or Azure's `/openai/v1/realtime?model=<deployment>`).
 *
 * Why not the package's own `OpenAIRealtimeWS` (openai/realtime/ws): in openai 6.x it always
 * builds `wss://…/realtime?model=…` (its URL builder forces `wss:` and wants exactly one of model
 * or call id), but a transcription session must be opened with `intent=transcription` and no model
 * (the API refuses one: openai/openai-node#1511), and a local OpenAI-compatible server (or the
 * fake in test/) speaks plain `ws:`. So this opens the socket with `ws`, the library that class
 * uses, sends the same Bearer header, and types every event with the package's definitions.
 */
import WebSocket from 'ws';
import type { RealtimeClientEvent, RealtimeServerEvent } from 'openai/resources/realtime/realtime';

/** `<baseURL>/realtime` with https→wss, http→ws and the given query. */
export function realtimeURL(baseURL: string, query: Record<string, string>): URL {
  const url = new URL(`${baseURL.replace(/\/+$/, '')}/realtime`);
  if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol === 'http:') url.protocol = 'ws:';
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  return url;
}

/** The socket could not be opened: refused (HTTP status), unreachable, or too slow. */
export class RealtimeConnectError extends Error {
  override name = 'RealtimeConnectError';
  constructor(
    message: string,
    /** The HTTP status of a refused upgrade, e.g. 401. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface RealtimeSocketOptions {
  url: URL;
  /** Sent as `Authorization: Bearer …` (never in the URL). */
  apiKey?: string;
  /** Other upgrade headers (Azure's `api-key`). */
  headers?: Record<string, string>;
  /** Give up opening after this long. */
  openTimeoutMs: number;
  signal?: AbortSignal;
}

export interface RealtimeClosed {
  code: number;
  reason: string;
  error?: Error;
}

export class RealtimeSocket {
  private readonly listeners = new Set<(event: RealtimeServerEvent) => void>();
  private readonly closeListeners = new Set<(closed: RealtimeClosed) => void>();
  private lastError?: Error;
  private closedWith?: RealtimeClosed;

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      let event: RealtimeServerEvent;
      try {
        event = JSON.parse(data.toString()) as RealtimeServerEvent;
      } catch {
        return; // not an event: nothing to act on
      }
      for (const listener of this.listeners) listener(event);
    });
    socket.on('error', (error) => (this.lastError = error));
    socket.on('close', (code, reason) => {
      this.closedWith = { code, reason: reason.toString(), ...(this.lastError ? { error: this.lastError } : {}) };
      for (const listener of this.closeListeners) listener(this.closedWith);
    });
  }

  /** Opens the socket; rejects with a RealtimeConnectError. */
  static connect(options: RealtimeSocketOptions): Promise<RealtimeSocket> {
    const { url, apiKey, openTimeoutMs, signal } = options;
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, {
        headers: { ...options.headers, ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}) },
        handshakeTimeout: openTimeoutMs,
        perMessageDeflate: false,
      });
      let settled = false;
      const fail = (error: RealtimeConnectError) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        socket.terminate();
        reject(error);
      };
      const onAbort = () => fail(new RealtimeConnectError('The Realtime connection was cancelled.', undefined, { cause: signal?.reason }));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('unexpected-response', (_request, response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const message = (() => {
            try {
              return (JSON.parse(body) as { error?: { message?: string } }).error?.message;
            } catch {
              return undefined;
            }
          })();
          fail(new RealtimeConnectError(`The Realtime endpoint refused the connection (${response.statusCode})${message ? `: ${message}` : ''}`, response.statusCode));
        });
        response.on('error', () => fail(new RealtimeConnectError(`The Realtime endpoint refused the connection (${response.statusCode})`, response.statusCode)));
      });
      socket.once('error', (error) => fail(new RealtimeConnectError(`Could not open the Realtime connection to ${url.host}: ${error.message}`, undefined, { cause: error })));
      socket.once('open', () => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        resolve(new RealtimeSocket(socket));
      });
    });
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /** How it closed, once it has. */
  get closed(): RealtimeClosed | undefined {
    return this.closedWith;
  }

  send(event: RealtimeClientEvent): void {
    if (this.isOpen) this.socket.send(JSON.stringify(event));
  }

  onEvent(listener: (event: RealtimeServerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onClose(listener: (closed: RealtimeClosed) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  close(): void {
    if (this.socket.readyState === WebSocket.CONNECTING) this.socket.terminate();
    else if (this.socket.readyState === WebSocket.OPEN) this.socket.close(1000, 'done');
  }
}

/** Mic PCM16 chunks joined into one `input_audio_buffer.append` payload (base64, little-endian). */
export function pcm16AppendAudio(parts: readonly Int16Array[], samples: number): string {
  const pcm = new Int16Array(samples);
  let at = 0;
  for (const part of parts) {
    pcm.set(part, at);
    at += part.length;
  }
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength).toString('base64');
}
