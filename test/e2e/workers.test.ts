/**
 * WORKERS=2 through the real `npm start` entry (a node:cluster primary and two workers): a call in
 * Chromium, /metrics summed over both workers, then the call's worker is killed mid-conversation.
 * The primary restarts it, the page reconnects by itself to a live worker, and the next chat
 * request (seen by the fake OpenAI server) carries the earlier turn from the embedded store.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MEDIA_DIR, makeSolidY4m, makeSpeechWav } from '../../scripts/make-test-media.js';
import { lastMessage, printFailureContext } from './harness.js';
import { startOpenAIRig, type OpenAIRig } from './openai-probes.js';
import { httpsGetText } from './scale-http.js';
import { askAndWait, echoReply, lastChatTexts, pageInstance, pidOf, waitForReconnect } from './scale-probes.js';

const API_KEY = `sk-e2e-${randomBytes(16).toString('hex')}`;
let rig: OpenAIRig;

beforeAll(async () => {
  const [audioWav, videoY4m] = await Promise.all([
    makeSpeechWav('hello there', path.join(DEFAULT_MEDIA_DIR, 'hello-there.wav'), { padSeconds: 1 }),
    makeSolidY4m('green', path.join(DEFAULT_MEDIA_DIR, 'green-640x480.y4m')),
  ]);
  rig = await startOpenAIRig({ apiKey: API_KEY, media: { audioWav, videoY4m }, fake: { reply: echoReply }, serverEnv: { WORKERS: '2' } });
}, 120_000);

afterAll(async () => {
  await rig?.close();
}, 30_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && rig) printFailureContext(rig.server, rig.pageErrors, 6000);
});

describe('WORKERS=2: one call per worker, a crashed worker restarted, the page back with its conversation', () => {
  let firstInstance: string;

  it('serves the call from a worker process (not the primary) and answers', async () => {
    firstInstance = await pageInstance(rig.page);
    expect(pidOf(firstInstance)).not.toBe(rig.server.pid);
    const reply = await askAndWait(rig.page, 'first question about the alpha box');
    expect(reply).toContain('alpha box');
  }, 60_000);

  it('sums /metrics over both workers: the one call counts once whichever worker answers', async () => {
    const seen = new Set<string>();
    // The primary hands connections to the workers in turn: /metrics from each, then /healthz from each.
    for (let i = 0; i < 4; i++) expect(await httpsGetText(`${rig.server.url}metrics`)).toMatch(/^assistant_active_sessions 1$/m);
    for (let i = 0; i < 4; i++) seen.add(JSON.parse(await httpsGetText(`${rig.server.url}healthz`)).instance as string);
    expect(seen.size).toBe(2); // /healthz answered by both workers, each naming itself
  }, 30_000);

  it('restarts the killed worker, and the page reconnects with its conversation', async () => {
    process.kill(pidOf(firstInstance), 'SIGKILL');
    const secondInstance = await waitForReconnect(rig.page, firstInstance);
    expect(secondInstance).not.toBe(firstInstance);
    // The conversation is back on the page (from the store, through hello)…
    expect((await lastMessage(rig.page, 'user'))?.text).toContain('alpha box');
    // …and in the next chat request.
    const reply = await askAndWait(rig.page, 'second question about the beta box');
    expect(reply).toContain('beta box');
    const sent = lastChatTexts(rig.fake);
    expect(sent.some((t) => t.startsWith('user:') && t.includes('alpha box'))).toBe(true);
    expect(sent.some((t) => t.startsWith('assistant:') && t.includes('You asked: first question about the alpha box'))).toBe(true);
    expect(sent.at(-1)).toContain('beta box');
    // The primary restarted the dead worker.
    await expect.poll(() => /worker exited; restarting it/.test(rig.server.logs()), { timeout: 5000 }).toBe(true);
    await expect.poll(() => (rig.server.logs().match(/"msg":"listening"/g) ?? []).length, { timeout: 40_000, interval: 500 }).toBe(3);
  }, 120_000);
});
