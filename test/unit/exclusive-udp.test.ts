import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../e2e/harness.js';

const run = promisify(execFile);
const FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'udp-cluster.ts');

async function workerPorts(mode: string): Promise<number[]> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', FIXTURE, mode], { cwd: REPO_ROOT, timeout: 30_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as number[];
}

describe('installExclusiveUdpBinds (real node:cluster workers)', () => {
  it('without it, two workers binding port 0 share one socket through the primary (the problem)', async () => {
    const [a, b] = await workerPorts('shared');
    expect(a).toBe(b);
  }, 40_000);

  it('with it, each worker gets a socket and a port of its own', async () => {
    const [a, b] = await workerPorts('exclusive');
    expect(a).not.toBe(b);
  }, 40_000);
});
