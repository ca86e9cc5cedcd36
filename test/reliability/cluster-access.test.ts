import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../e2e/harness.js';
import { connect, request } from './rig.js';

/**
 * WORKERS=2 on a non-loopback bind with no ACCESS_TOKEN: the primary makes one token, every worker
 * takes it, and the one banner prints it (a token per worker would refuse every other connection).
 */
describe('access token in a cluster', () => {
  let server: RunningServer;
  let token: string;
  let base: string;

  beforeAll(async () => {
    server = await startServer({ HOST: '0.0.0.0', WORKERS: '2', ASSISTANT_ENGINE: 'offline' }, 90_000);
    let printed: RegExpExecArray | null = null;
    for (let i = 0; i < 300 && !printed; i++) {
      printed = /https:\/\/(\S+?):(\d+)\/\?token=(\S+)/.exec(server.logs());
      if (!printed) await sleep(100);
    }
    expect(printed, 'the banner prints the URL with the token').not.toBeNull();
    token = printed![3]!;
    base = `https://127.0.0.1:${server.port}`;
  }, 120_000);
  afterAll(() => server?.stop());

  it('is one token, accepted by every worker', async () => {
    const printedTokens = new Set([...server.logs().matchAll(/\/\?token=(\S+)/g)].map((m) => m[1]));
    expect([...printedTokens]).toEqual([token]);
    const cookie = `assistant_token=${token}`;
    const instances = new Set<string>();
    // node:cluster hands new connections to the workers round-robin; both must be up and answer.
    for (let i = 0; i < 200 && instances.size < 2; i++) {
      const health = await request(`${base}/healthz`, { cookie });
      const body = JSON.parse(health.body) as { instance?: string };
      if (body.instance) instances.add(body.instance);
      else await sleep(100);
      expect((await request(`${base}/app.js`, { cookie })).status).toBe(200);
      expect((await request(`${base}/app.js`)).status).toBe(401);
    }
    expect(instances.size).toBe(2);
    const socket = await connect(base, { token });
    expect(socket.connected).toBe(true);
    socket.close();
  }, 90_000);
});
