/**
 * Opens the HTTP connections a turn will use before the turn needs them. Node's fetch (undici)
 * closes a connection after 4 s idle (or the server's keep-alive hint less 2 s: 3 s against Node's
 * own http server, like the fake), and a spoken conversation (listen to the answer, think, ask
 * again) is slower than that, so without this every turn paid a fresh TCP (+ TLS) handshake to the
 * API twice: for the transcription, and for the first speech request, which runs beside the still
 * open chat stream (the bench saw 2 connects per turn). Warming when a call opens and while Space
 * is held means the handshakes happen while the user is still talking.
 *
 * A warm-up still in flight at the moment of release holds its connection, and the transcription
 * then opens a new one (as it did before): one round trip in every 2 s of holding.
 *
 * A warm-up is a plain GET of the API base URL with no credentials: never billed, the answer (an
 * error page) is read to its end so the connection goes back to the pool, and any failure is
 * ignored: the real request will report a dead API. GET, because undici closes a connection after
 * a HEAD request.
 */

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface ConnectionWarmerOptions {
  /** Connections opened at once (a turn runs the chat stream and a speech request together). */
  connections: number;
  /** Warm-ups closer together than this are skipped (idle connections live 3–4 s). */
  minIntervalMs: number;
  /** A warm-up request gives up after this long. */
  timeoutMs: number;
}

export const DEFAULT_WARMER_OPTIONS: ConnectionWarmerOptions = { connections: 2, minIntervalMs: 2000, timeoutMs: 5000 };

export class ConnectionWarmer {
  private lastStartedAt = -Infinity;
  private inFlight = 0;

  constructor(
    private readonly url: string,
    private readonly fetch: Fetch,
    private readonly options: ConnectionWarmerOptions = DEFAULT_WARMER_OPTIONS,
  ) {}

  /** Starts a warm-up unless one is running or ran recently; never throws. */
  warm(): void {
    const now = performance.now();
    if (this.inFlight > 0 || now - this.lastStartedAt < this.options.minIntervalMs) return;
    this.lastStartedAt = now;
    for (let i = 0; i < this.options.connections; i++) {
      this.inFlight++;
      void this.openOne().finally(() => this.inFlight--);
    }
  }

  /** Resolves when no warm-up request is in flight (for tests). */
  async settled(): Promise<void> {
    while (this.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  private async openOne(): Promise<void> {
    try {
      const response = await this.fetch(this.url, { method: 'GET', signal: AbortSignal.timeout(this.options.timeoutMs) });
      await response.arrayBuffer();
    } catch {
      // Unreachable or slow API: the turn's own request will say so.
    }
  }
}
