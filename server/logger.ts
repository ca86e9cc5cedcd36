import { pino, type Logger } from 'pino';

export type { Logger };

/** One structured JSON logger for the whole server; children carry a session id. */
export function createLogger(level: string): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}
