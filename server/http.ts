import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { accessGate, requestHasToken } from './access.js';
import type { ServerMetrics } from './metrics.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/**
 * Only this origin, for everything: a prompt-injected reply rendered as Markdown cannot make the
 * page fetch an outside image or script, and no other site may frame the page.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export interface HttpStatus {
  engine: string;
  /** The process that answers (DESIGN.md "Access and scale"). */
  instance: string;
  /** The whole machine's metrics (a cluster worker asks the primary); default: this process's. */
  metricsText?(): Promise<string>;
  sessions(): number;
  accepting(): boolean;
}

/** Static page, the two browser libraries it imports, health and metrics. */
export function createHttpApp(
  status: HttpStatus,
  metrics: ServerMetrics,
  options: { accessToken?: string; onError?: (err: unknown, req: Request) => void } = {},
): Express {
  const app = express();
  const token = options.accessToken;
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    next();
  });

  // Open for load balancers; without the token it says only whether the server is up.
  app.get('/healthz', (req, res) => {
    const ok = status.accepting();
    if (token && !requestHasToken(req, token)) res.status(ok ? 200 : 503).json({ ok });
    else res.status(ok ? 200 : 503).json({ ok, instance: status.instance, engine: status.engine, sessions: status.sessions() });
  });
  app.use(accessGate(token, new Set(['/healthz'])));

  app.get('/metrics', async (_req, res) => {
    try {
      const text = await (status.metricsText?.() ?? metrics.registry.metrics());
      res.setHeader('Content-Type', metrics.registry.contentType);
      res.send(text);
    } catch {
      res.status(503).type('text/plain').send('metrics unavailable\n');
    }
  });

  // A Map, not an object: `__proto__`, `constructor` or `toString` are names like any other.
  const vendor = new Map<string, string>([
    ['marked.esm.js', require.resolve('marked')],
    ['purify.es.mjs', join(dirname(require.resolve('dompurify')), 'purify.es.mjs')],
  ]);
  app.get('/vendor/:file', (req, res) => {
    const file = vendor.get(req.params.file);
    if (!file) {
      res.status(404).end();
      return;
    }
    res.type('text/javascript').sendFile(file);
  });

  app.use(express.static(join(root, 'public'), { extensions: ['html'] }));
  app.use((_req, res) => {
    res.status(404).type('text/plain').send('Not found\n');
  });
  // Never a stack trace or a path: the status and a word, and the details in the log.
  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const status = httpStatusOf(err);
    if (status >= 500) options.onError?.(err, req);
    const word = status >= 500 ? 'Internal server error' : status === 404 ? 'Not found' : 'Bad request';
    res.status(status).type('text/plain').send(`${word}\n`);
  });
  return app;
}

function httpStatusOf(err: unknown): number {
  const status = typeof err === 'object' && err !== null ? (err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode : undefined;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}
