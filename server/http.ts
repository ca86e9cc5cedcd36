import express, { type Express } from 'express';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { accessGate, requestHasToken } from './access.js';
import type { ServerMetrics } from './metrics.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

export interface HttpStatus {
  engine: string;
  sessions(): number;
  accepting(): boolean;
}

/** Static page, the two browser libraries it imports, health and metrics. */
export function createHttpApp(status: HttpStatus, metrics: ServerMetrics, options: { accessToken?: string } = {}): Express {
  const app = express();
  const token = options.accessToken;
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });

  // Open for load balancers; without the token it says only whether the server is up.
  app.get('/healthz', (req, res) => {
    const ok = status.accepting();
    if (token && !requestHasToken(req, token)) res.status(ok ? 200 : 503).json({ ok });
    else res.status(ok ? 200 : 503).json({ ok, engine: status.engine, sessions: status.sessions() });
  });
  app.use(accessGate(token, new Set(['/healthz'])));

  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  const vendor: Record<string, string> = {
    'marked.esm.js': require.resolve('marked'),
    'purify.es.mjs': join(dirname(require.resolve('dompurify')), 'purify.es.mjs'),
  };
  app.get('/vendor/:file', (req, res) => {
    const file = vendor[req.params.file];
    if (!file) {
      res.status(404).end();
      return;
    }
    res.type('text/javascript').sendFile(file);
  });

  app.use(express.static(join(root, 'public'), { extensions: ['html'] }));
  return app;
}
