import type { Logger } from 'pino';

/*
 * Imported first by server/main.ts. Express and its error pages behave as in production unless
 * told otherwise (no stack traces in responses, cached views).
 */
process.env.NODE_ENV ??= 'production';

/** More uncaught exceptions than this within a minute: the process is not healthy, so it ends. */
const MAX_UNCAUGHT_PER_MINUTE = 5;

/**
 * A rejection nobody handled (the werift send fast path leaves some on purpose; one bad packet
 * can raise one) is logged and the server keeps serving every other call. An uncaught exception
 * is logged and survived too, unless they keep coming, which means a broken state: then the
 * process exits with 1 so a supervisor can start a clean one.
 */
export function installCrashPolicy(logger: Logger, exit: (code: number) => void = (code) => process.exit(code)): () => void {
  const recent: number[] = [];
  const onRejection = (reason: unknown) => logger.error({ err: reason }, 'unhandled promise rejection (the server keeps running)');
  const onException = (err: Error) => {
    const now = Date.now();
    recent.push(now);
    while (recent.length > 0 && now - recent[0]! > 60_000) recent.shift();
    if (recent.length > MAX_UNCAUGHT_PER_MINUTE) {
      logger.fatal({ err }, `uncaught exception, the ${recent.length}th in a minute: exiting`);
      exit(1);
      return;
    }
    logger.error({ err }, 'uncaught exception (the server keeps running)');
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}

/**
 * Diagnostics for the reliability suite and for people chasing memory: when node runs with
 * --expose-gc, SIGUSR2 forces a full GC and logs the heap and RSS after it.
 */
export function installGcOnSignal(logger: Logger): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') return;
  process.on('SIGUSR2', () => {
    gc();
    const { rss, heapUsed } = process.memoryUsage();
    logger.info({ rssBytes: rss, heapUsedBytes: heapUsed }, 'forced GC');
  });
}
