import express, { type Express } from 'express';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type { ServerMetrics } from './metrics.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

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
export function createHttpApp(status: HttpStatus, metrics: ServerMetrics): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });

  app.get('/healthz', (_req, res) => {
    const ok = status.accepting();
    res.status(ok ? 200 : 503).json({ ok, instance: status.instance, engine: status.engine, sessions: status.sessions() });
  });

  app.get('/metrics', async (_req, res) => {
    try {
      const text = await (status.metricsText?.() ?? metrics.registry.metrics());
      res.setHeader('Content-Type', metrics.registry.contentType);
      res.send(text);
    } catch {
      res.status(503).type('text/plain').send('metrics unavailable\n');
    }
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
