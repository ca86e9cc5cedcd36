/**
 * Many machines on loopback (README "Many machines"): redis-server, two server instances with
 * REDIS_URL, and nginx from deploy/nginx.conf in front (all started here from Debian packages).
 * A call through nginx in Chromium; its instance is killed mid-conversation; the page reconnects
 * through nginx to the other instance and the next chat request carries the earlier turns.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MEDIA_DIR, makeSolidY4m, makeSpeechWav } from '../../scripts/make-test-media.js';
import { loadOrCreateTls } from '../../server/certs.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fake-openai/server.js';
import { launchBrowser, lastMessage, openPage, peerConnectionState, type RunningServer, startServer, waitForState } from './harness.js';
import { httpsGetText } from './scale-http.js';
import { askAndWait, echoReply, lastChatTexts, pageInstance, pidOf, waitForReconnect } from './scale-probes.js';
import { startNginx, startRedis, type RunningService } from './services.js';

const API_KEY = `sk-e2e-${randomBytes(16).toString('hex')}`;
let fake: FakeOpenAI;
let redis: RunningService & { url: string };
let nginx: RunningService & { url: string };
let instances: RunningServer[] = [];
let browser: Browser;
let page: Page;
let certsDir: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  certsDir = await mkdtemp(path.join(os.tmpdir(), 'e2e-scale-certs-'));
  const tls = loadOrCreateTls({ certsDir, host: '127.0.0.1' });
  const [audioWav, videoY4m] = await Promise.all([
    makeSpeechWav('hello there', path.join(DEFAULT_MEDIA_DIR, 'hello-there.wav'), { padSeconds: 1 }),
    makeSolidY4m('green', path.join(DEFAULT_MEDIA_DIR, 'green-640x480.y4m')),
  ]);
  [fake, redis] = await Promise.all([startFakeOpenAI({ apiKey: API_KEY, reply: echoReply }), startRedis()]);
  const serverEnv = {
    ASSISTANT_ENGINE: 'openai', OPENAI_API_KEY: API_KEY, OPENAI_BASE_URL: fake.baseURL,
    REDIS_URL: redis.url, WORKERS: '1', CERTS_DIR: certsDir,
  };
  let launched: Browser;
  [instances[0], instances[1], launched] = await Promise.all([startServer(serverEnv), startServer(serverEnv), launchBrowser({ audioWav, videoY4m })]);
  browser = launched;
  nginx = await startNginx({ certPath: tls.certPath, keyPath: path.join(certsDir, 'localhost-key.pem'), upstreamPorts: instances.map((i) => i.port) });
  page = await openPage(browser, nginx.url);
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  await waitForState(page, 'ready', 30_000);
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await nginx?.stop();
  await Promise.all(instances.map((i) => i.stop().catch(() => undefined)));
  await Promise.all([redis?.stop(), fake?.close()]);
  if (certsDir) await rm(certsDir, { recursive: true, force: true });
}, 30_000);

afterEach(({ task }) => {
  if (task.result?.state !== 'fail') return;
  for (const instance of instances) console.log(`--- instance ${instance.port} ---\n${instance.logs().slice(-3000)}`);
  console.log(`--- nginx ---\n${nginx?.logs().slice(-2000)}\n--- page errors ---\n${pageErrors.join('\n')}`);
});

describe('two instances behind nginx with Redis: an instance dies, the conversation goes on', () => {
  let first: RunningServer;
  let firstInstance: string;

  it('serves /healthz and the call through nginx, over WebSocket and WebRTC', async () => {
    const health = JSON.parse(await httpsGetText(`${nginx.url}healthz`)) as { ok: boolean; instance: string };
    expect(health.ok).toBe(true);
    expect(health.instance).toMatch(/:\d+$/);
    expect(await peerConnectionState(page)).toBe('connected');
    firstInstance = await pageInstance(page);
    first = instances.find((i) => i.pid === pidOf(firstInstance))!;
    expect(first).toBeDefined();
    expect(await askAndWait(page, 'first question about the alpha box')).toContain('alpha box');
  }, 60_000);

  it('after its instance is killed, the page reconnects through nginx to the other one with its conversation', async () => {
    process.kill(-first.pid, 'SIGKILL'); // the whole instance, as a crashed machine
    const secondInstance = await waitForReconnect(page, firstInstance, 60_000);
    const second = instances.find((i) => i.pid === pidOf(secondInstance));
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    expect((await lastMessage(page, 'user'))?.text).toContain('alpha box');
    await expect.poll(() => peerConnectionState(page), { timeout: 20_000 }).toBe('connected');

    expect(await askAndWait(page, 'second question about the beta box')).toContain('beta box');
    const sent = lastChatTexts(fake);
    expect(sent.some((t) => t.startsWith('user:') && t.includes('alpha box'))).toBe(true);
    expect(sent.some((t) => t.startsWith('assistant:') && t.includes('You asked: first question about the alpha box'))).toBe(true);
    expect(sent.at(-1)).toContain('beta box');
    // The chat request came from the surviving instance (the dead one cannot have sent it).
    expect(second!.logs()).toMatch(/"turn":"t1","outcome":"answered"/);
  }, 120_000);
});
