/**
 * The supervising process when WORKERS > 1: forks the workers (each runs server/main.ts: its own
 * HTTPS + socket.io + werift, sharing the listening port through node:cluster), gives each its own
 * slice of ICE_PORT_RANGE, restarts a worker that dies, answers their conversation-store and
 * metrics requests, and on SIGTERM/SIGINT drains every worker before it exits.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Settings } from '../config.js';
import type { Logger } from '../logger.js';
import { MemoryConversationStore } from '../conversations/memory-store.js';
import { serveStoreRequests } from '../conversations/primary-store.js';
import { createMetricsAggregator, METRICS_REQUEST } from './cluster-metrics.js';
import { servePrimaryRequests } from './ipc.js';
import { workerPortRange } from './ports.js';

const WORKER_ENTRY = fileURLToPath(new URL('../main.ts', import.meta.url));
/** How long SIGTERM waits for workers to close their calls before killing them. */
const DRAIN_TIMEOUT_MS = 8000;
const MAX_RESTART_DELAY_MS = 10_000;
/** main.ts's exit code when it refuses to start (not a crash: restarting would not help). */
const CANNOT_START = 2;

export function runPrimary(settings: Settings, logger: Logger): void {
  const count = settings.WORKERS;
  const portRanges = settings.ICE_PORT_RANGE
    ? Array.from({ length: count }, (_, index) => workerPortRange(settings.ICE_PORT_RANGE!, index, count))
    : undefined;
  cluster.setupPrimary({ exec: WORKER_ENTRY, execArgv: process.execArgv });

  const aggregateMetrics = createMetricsAggregator();
  const store = settings.REDIS_URL
    ? undefined
    : new MemoryConversationStore({
        ttlSeconds: settings.HISTORY_IDLE_MINUTES * 60,
        maxBytes: settings.HISTORY_MAX_BYTES,
        maxCount: settings.HISTORY_MAX_CONVERSATIONS,
      });
  servePrimaryRequests({
    [METRICS_REQUEST]: () => aggregateMetrics(),
    ...(store ? serveStoreRequests(store) : {}),
  });

  let stopping = false;
  const indexOf = new Map<Worker, number>();
  /** Recent crash times per worker slot, for the restart back-off. */
  const crashes = new Map<number, number[]>();

  const fork = (index: number): void => {
    const range = portRanges?.[index];
    const worker = cluster.fork({
      WORKER_INDEX: String(index),
      WORKERS: String(count),
      ...(range ? { ICE_PORT_RANGE: `${range[0]}-${range[1]}` } : {}),
    });
    indexOf.set(worker, index);
    worker.once('exit', (code, signal) => {
      indexOf.delete(worker);
      if (stopping) return;
      if (code === CANNOT_START) {
        // The worker said why (a werift patch check, main.ts): a restart would only say it again.
        logger.error({ worker: index, code }, 'a worker cannot start; stopping');
        shutdown('SIGTERM', CANNOT_START);
        return;
      }
      const now = Date.now();
      const recent = (crashes.get(index) ?? []).filter((at) => now - at < 60_000);
      recent.push(now);
      crashes.set(index, recent);
      const delay = Math.min(MAX_RESTART_DELAY_MS, 250 * 2 ** (recent.length - 1));
      logger.error({ worker: index, pid: worker.process.pid, code, signal, restartInMs: delay }, 'worker exited; restarting it');
      setTimeout(() => {
        if (!stopping) fork(index);
      }, delay).unref();
    });
  };
  for (let index = 0; index < count; index++) fork(index);
  logger.info({ workers: count, pid: process.pid, portRanges }, 'primary started');

  const shutdown = (signal: NodeJS.Signals, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining workers');
    const workers = [...indexOf.keys()];
    const exited = workers.map((worker) => new Promise<void>((resolve) => {
      if (worker.isDead()) resolve();
      else worker.once('exit', () => resolve());
    }));
    for (const worker of workers) worker.process.kill('SIGTERM');
    const forced = setTimeout(() => {
      for (const worker of workers) if (!worker.isDead()) worker.process.kill('SIGKILL');
    }, DRAIN_TIMEOUT_MS);
    void Promise.all(exited).then(() => {
      clearTimeout(forced);
      process.exit(exitCode);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
