import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { freePort, REPO_ROOT } from '../e2e/harness.js';
import { request } from './rig.js';

const groupAlive = (pgid: number) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('SIGTERM through npm start', () => {
  it('stops the server: the port closes and no process of the group is left', async () => {
    const port = await freePort();
    const certs = await mkdtemp(path.join(os.tmpdir(), 'reliability-certs-'));
    const npm = spawn('npm', ['start'], {
      cwd: REPO_ROOT,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', CERTS_DIR: certs, ASSISTANT_ENGINE: 'offline', OPENAI_API_KEY: '' },
      detached: true,
      stdio: 'ignore',
    });
    const pgid = npm.pid!;
    try {
      let up = false;
      for (let i = 0; i < 150 && !up; i++) {
        up = await request(`https://127.0.0.1:${port}/healthz`).then((r) => r.status === 200, () => false);
        if (!up) await sleep(200);
      }
      expect(up, 'npm start served /healthz').toBe(true);
      const sentAt = performance.now();
      process.kill(npm.pid!, 'SIGTERM'); // the npm process only, as a supervisor would
      let gone = false;
      for (let i = 0; i < 50 && !gone; i++) {
        await sleep(100);
        gone = !groupAlive(pgid);
      }
      console.log(`SIGTERM to npm start: group gone=${gone} after ${(performance.now() - sentAt).toFixed(0)} ms`);
      expect(gone).toBe(true);
      expect(await request(`https://127.0.0.1:${port}/healthz`).then(() => 'answered', () => 'closed')).toBe('closed');
    } finally {
      if (groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
    }
  }, 60_000);
});
