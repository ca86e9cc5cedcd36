/**
 * End to end with the OpenAI engine when the API fails: each failure the fake OpenAI server can
 * produce (bad key, unknown model, rate limit, server error, timeout, streams cut mid-reply) must
 * give a short plain message in [data-testid=error], spoken by the local voice, the page back to
 * `ready`, and a following turn that works. One fake, one server and one browser for the file.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MEDIA_DIR, makeSolidY4m, makeSpeechWav } from '../../scripts/make-test-media.js';
import type { FakeEndpoint } from '../fake-openai/server.js';
import {
  messageCount, rmsWindows, startRemoteAudioCapture, stopRemoteAudioCapture, waitForReplyDone, waitForState, printFailureContext,
} from './harness.js';
import {
  askTyped, errorText, findSecret, lastTurnDone, loudMs, type OpenAIRig, startOpenAIRig, waitForErrorText,
} from './openai-probes.js';

const API_KEY = `sk-e2e-${randomBytes(16).toString('hex')}`;
const MODEL_TIMEOUT_MS = 3000;
/** Short, so a recovery turn's speech is quick; ≥ 6 words, so the chat cut falls mid-reply. */
const REPLY = 'Everything is working again, thanks for waiting.';
/** The server's default models (server/config.ts); the 404 case leaves the chat one out. */
const STT_AND_TTS_MODELS = ['gpt-4o-mini-transcribe', 'gpt-4o-mini-tts'];

let rig: OpenAIRig;

beforeAll(async () => {
  const [audioWav, videoY4m] = await Promise.all([
    makeSpeechWav('please tell me what colour you can see', path.join(DEFAULT_MEDIA_DIR, 'question-colour.wav'), { padSeconds: 1 }),
    makeSolidY4m('red', path.join(DEFAULT_MEDIA_DIR, 'red-640x480.y4m')),
  ]);
  rig = await startOpenAIRig({
    apiKey: API_KEY,
    media: { audioWav, videoY4m },
    fake: { reply: () => REPLY },
    serverEnv: { MODEL_TIMEOUT_MS: String(MODEL_TIMEOUT_MS) },
  });
}, 90_000);

afterAll(async () => {
  await rig?.close();
}, 30_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && rig) {
    printFailureContext(rig.server, rig.pageErrors);
  }
  // Whatever happened, the next case starts from a well-behaved fake.
  rig?.fake.configure({ apiKey: API_KEY, models: undefined });
  for (const endpoint of ['transcriptions', 'chat', 'speech'] as const) rig?.fake.setBehaviour(endpoint, {});
});

interface FailureCase {
  name: string;
  /** The endpoint that fails, and the HTTP status the fake answered with (when it answered). */
  endpoint: FakeEndpoint;
  expectedStatus?: number;
  /** What the message must mention. */
  mentions: RegExp;
  inject(rig: OpenAIRig): void;
  /** How many requests the failing turn may make to the endpoint (retries are safe only before the first byte). */
  maxAttempts: number;
}

const CASES: FailureCase[] = [
  {
    name: 'bad API key (401)', endpoint: 'chat', expectedStatus: 401, mentions: /key/i, maxAttempts: 1,
    inject: ({ fake }) => fake.configure({ apiKey: 'sk-the-key-the-account-really-has' }),
  },
  {
    name: 'unknown model (404)', endpoint: 'chat', expectedStatus: 404, mentions: /model/i, maxAttempts: 1,
    inject: ({ fake }) => fake.configure({ models: STT_AND_TTS_MODELS }),
  },
  {
    name: 'rate limit (429)', endpoint: 'chat', expectedStatus: 429, mentions: /rate|busy|limit/i, maxAttempts: 2,
    inject: ({ fake }) => fake.setBehaviour('chat', { failure: { kind: 'status', status: 429, retryAfterMs: 50 } }),
  },
  {
    name: 'server error (500)', endpoint: 'chat', expectedStatus: 500, mentions: /server|went wrong|problem/i, maxAttempts: 2,
    inject: ({ fake }) => fake.setBehaviour('chat', { failure: { kind: 'status', status: 500 } }),
  },
  {
    name: `timeout (no answer within MODEL_TIMEOUT_MS=${MODEL_TIMEOUT_MS})`, endpoint: 'chat', mentions: /time|did not answer|too long|stalled/i, maxAttempts: 2,
    inject: ({ fake }) => fake.setBehaviour('chat', { failure: { kind: 'hang' } }),
  },
  {
    name: 'chat stream cut mid-reply', endpoint: 'chat', expectedStatus: 200, mentions: /cut|interrupt|dropped|broke|stopped/i, maxAttempts: 1,
    inject: ({ fake }) => fake.setBehaviour('chat', { chunkGapMs: 30, failure: { kind: 'cut', afterChunks: 4 } }),
  },
  {
    name: 'speech stream cut mid-reply', endpoint: 'speech', expectedStatus: 200, mentions: /cut|interrupt|dropped|broke|stopped/i, maxAttempts: 1,
    inject: ({ fake }) => fake.setBehaviour('speech', { failure: { kind: 'cut', afterChunks: 1 }, failureTimes: 1 }),
  },
];

describe('OpenAI engine failures, end to end in Chromium', () => {
  it.each(CASES)('$name: a plain message, spoken, back to ready, and the next turn works', async (failure) => {
    const { page, fake } = rig;
    await waitForState(page, 'ready', 10_000);
    const attemptsBefore = fake.requestsTo(failure.endpoint).length;
    failure.inject(rig);
    await startRemoteAudioCapture(page);
    const askedAt = Date.now();
    await askTyped(page, `what happens in the ${failure.name} case`);
    const message = await waitForErrorText(page, 4 * MODEL_TIMEOUT_MS + 15_000);
    const shownAfterMs = Date.now() - askedAt;
    await waitForState(page, 'ready', 10_000);
    await page.waitForTimeout(2000); // into the spoken message (most take longer than this to say)
    const played = loudMs(rmsWindows(await stopRemoteAudioCapture(page)), 0.01);
    const attempts = fake.requestsTo(failure.endpoint).slice(attemptsBefore);
    console.log(`${failure.name}: "${message}" after ${shownAfterMs} ms; ${attempts.length} ${failure.endpoint} request(s) ` +
      `[${attempts.map((r) => `${r.status ?? '-'} ${r.outcome}`).join(', ')}]; ${played} ms of spoken audio`);

    expect(message).toMatch(failure.mentions);
    expect(message.length, 'short').toBeLessThanOrEqual(200);
    expect(message, 'plain words, no stack or JSON').not.toMatch(/[{}<>]|\bat \S+ \(|Error:|undefined|\[object/);
    expect(message).not.toContain(API_KEY);
    expect(attempts.length).toBeGreaterThanOrEqual(1);
    expect(attempts.length, 'retries only where repeating is safe').toBeLessThanOrEqual(failure.maxAttempts);
    if (failure.expectedStatus !== undefined) expect(attempts[0]!.status).toBe(failure.expectedStatus);
    expect(played, 'the message is spoken too').toBeGreaterThan(300);

    // The next question, asked while the message may still be being spoken, is answered at once.
    fake.configure({ apiKey: API_KEY, models: undefined });
    fake.setBehaviour(failure.endpoint, {});
    const repliesBefore = await messageCount(page, 'assistant');
    const recoveryAskedAt = Date.now();
    await askTyped(page, 'is it working now');
    const reply = await waitForReplyDone(page, repliesBefore, 30_000);
    await waitForState(page, 'ready', 15_000);
    const done = lastTurnDone(rig.traffic);
    const at = (mark: string) => done?.timeline?.find((entry) => entry.mark === mark)?.atMs;
    console.log(`${failure.name}: the next turn took ${Date.now() - recoveryAskedAt} ms; its timeline: ` +
      (done?.timeline ?? []).map((entry) => `${entry.mark} ${Math.round(entry.atMs)}`).join(', '));
    expect(reply.replace(/\s+/g, ' ').trim()).toBe(REPLY);
    expect(await errorText(page), 'the error is cleared by the next turn').toBe('');
    expect(done?.text).toBe(REPLY);
    expect(at('firstOggPage'), "the reply's speech arrived").toBeDefined();
    // Sound sent before the reply's own speech existed is the spoken error still playing.
    expect(at('firstRtp'), 'the first sound of the reply is its own speech, not the rest of the spoken error')
      .toBeGreaterThanOrEqual(at('firstOggPage')!);
  }, 90_000);

  it('no message the page received carries the API key', async () => {
    const { page, traffic } = rig;
    expect(traffic.socketFrames.some((frame) => frame.includes('session:error'))).toBe(true);
    const haystacks = [
      { where: 'page HTML', text: await page.content() },
      ...traffic.httpBodies.map(({ url, body }) => ({ where: `response ${url}`, text: body })),
      ...traffic.socketFrames.map((frame, i) => ({ where: `socket frame ${i}: ${frame.slice(0, 80)}`, text: frame })),
    ];
    expect(findSecret(haystacks, API_KEY)).toEqual([]);
    expect(findSecret(haystacks, API_KEY.slice(-16))).toEqual([]);
  }, 30_000);
});
