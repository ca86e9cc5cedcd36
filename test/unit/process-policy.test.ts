import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { installCrashPolicy } from '../../server/process-policy.js';

describe('installCrashPolicy', () => {
  let uninstall: (() => void) | undefined;
  afterEach(() => uninstall?.());

  it('logs an unhandled rejection and an odd uncaught exception, and exits only when they keep coming', () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
    const exits: number[] = [];
    uninstall = installCrashPolicy(logger, (code) => exits.push(code));
    process.emit('unhandledRejection', new Error('one bad packet'), Promise.resolve());
    for (let i = 0; i < 5; i++) process.emit('uncaughtException', new Error(`boom ${i}`));
    expect(exits).toEqual([]);
    expect(lines.filter((l) => l.includes('keeps running'))).toHaveLength(6);
    process.emit('uncaughtException', new Error('boom again'));
    expect(exits).toEqual([1]);
  });
});
