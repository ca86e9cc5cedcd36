import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ProcessLimitError, runProcess } from '../../server/media/process-runner.js';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('runProcess', () => {
  it('runs a command with stdin and returns its exit code, stdout and stderr', async () => {
    const input = Buffer.from('hello from the main thread\n'.repeat(10_000));
    const result = await runProcess('sh', ['-c', 'cat; echo done >&2; exit 3'], input);
    expect(result.code).toBe(3);
    expect(result.stdout.equals(input)).toBe(true);
    expect(result.stderr.toString()).toBe('done\n');
  });

  it('rejects a command that cannot start', async () => {
    await expect(runProcess('/nonexistent/binary', [], Buffer.alloc(0))).rejects.toThrow(/ENOENT/);
  });

  it('kills the process when aborted', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const run = runProcess('sleep', ['10'], Buffer.alloc(0), controller.signal);
    setTimeout(() => controller.abort(new Error('turn cancelled')), 50);
    await expect(run).rejects.toThrow('turn cancelled');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('does not block the calling thread for the fork, which spawn() does in a large process', async () => {
    const ballast = Array.from({ length: 200 }, () => Buffer.alloc(1 << 20, 1)); // a server-sized RSS
    const spawnBlocks: number[] = [];
    const runnerBlocks: number[] = [];
    for (let i = 0; i < 7; i++) {
      let started = performance.now();
      const child = spawn('true');
      spawnBlocks.push(performance.now() - started);
      await new Promise((resolve) => child.on('close', resolve));
      started = performance.now();
      const run = runProcess('true', [], Buffer.alloc(0));
      runnerBlocks.push(performance.now() - started);
      await run;
    }
    expect(ballast.length).toBe(200);
    expect(median(runnerBlocks)).toBeLessThan(2);
    expect(median(runnerBlocks)).toBeLessThan(median(spawnBlocks) / 3);
  });
});

describe('runProcess limits', () => {
  it('kills a child that runs past its time and says so', async () => {
    const started = performance.now();
    await expect(runProcess('sleep', ['30'], Buffer.alloc(0), { timeoutMs: 300 })).rejects.toThrow(/ran longer than 300 ms/);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('kills a child that writes more than its output limit', async () => {
    await expect(
      runProcess('head', ['-c', '10000000', '/dev/zero'], Buffer.alloc(0), { maxStdoutBytes: 1_000_000 }),
    ).rejects.toBeInstanceOf(ProcessLimitError);
    const small = await runProcess('head', ['-c', '1000', '/dev/zero'], Buffer.alloc(0), { maxStdoutBytes: 1_000_000 });
    expect(small.stdout.length).toBe(1000);
  });
});
