/**
 * Hands-free with the speech-to-speech engine, end to end in Chromium: no key is pressed. The mic
 * audio is appended all along and the Realtime server's turn detection (`server_vad`, the fake's
 * energy detector) finds the question and commits it; the page shows "hearing you" from its
 * `speech_started`; the newest frame goes in and the model's voice answers about the camera (red). A second
 * question spoken over the reply (the page's mic track replaced by flite speech, as in
 * hands-free.test.ts) stops it: the reply is truncated at the audio played and the new question
 * is answered.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { labelledSpeech } from '../../scripts/lib/speech-pcm.js';
import { DEFAULT_MEDIA_DIR, makeConversationWav, makeSolidY4m } from '../../scripts/make-test-media.js';
import { summariseImage } from '../fake-openai/media.js';
import { type FakeOpenAI, startFakeOpenAI } from '../fake-openai/server.js';
import type { ChatReplyInput } from '../fake-openai/wire.js';
import { lastMessage, launchBrowser, openPage, PAGE_PC, printFailureContext, type RunningServer, startServer, waitForState, wordOverlap } from './harness.js';

const FIRST = 'please tell me what colour you can see';
const SECOND = 'what am I holding in my hand';
const API_KEY = `sk-e2e-${randomBytes(16).toString('hex')}`;
const LONG_REPLY =
  'I can see a mostly red picture, and I will tell you more about it. The second sentence talks about the weather outside today, which is quite mild. ' +
  'Third, the garden needs water every morning before nine. Fourth, the cat sleeps on the warm window sill all afternoon.';

let fake: FakeOpenAI;
let server: RunningServer;
let browser: Browser | undefined;
let page: Page;
const pageErrors: string[] = [];
let replies = 0;

async function reply({ messages }: ChatReplyInput): Promise<string> {
  replies++;
  if (replies === 1) return LONG_REPLY;
  const question = [...messages].reverse().find((turn) => turn.role === 'user');
  return question?.image ? `It looks ${(await summariseImage(question.image.bytes)).colourName} to me.` : 'I was not sent a picture.';
}

beforeAll(async () => {
  const [wav, y4m] = await Promise.all([
    makeConversationWav([{ silenceSeconds: 6 }, { say: FIRST }, { silenceSeconds: 90 }], path.join(DEFAULT_MEDIA_DIR, 'hands-free-conversation.wav')),
    makeSolidY4m('red', path.join(DEFAULT_MEDIA_DIR, 'red-640x480.y4m')),
  ]);
  fake = await startFakeOpenAI({ apiKey: API_KEY, reply, behaviour: { realtime: { chunkGapMs: 90 } } });
  [server, browser] = await Promise.all([
    startServer({ ASSISTANT_ENGINE: 'realtime', OPENAI_API_KEY: API_KEY, OPENAI_BASE_URL: fake.baseURL }),
    launchBrowser({ audioWav: wav, videoY4m: y4m }),
  ]);
  page = await openPage(browser, `${server.url}?mode=hands-free`);
  page.on('pageerror', (error) => pageErrors.push(String(error)));
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await fake?.close();
}, 30_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail') printFailureContext(server, pageErrors, 4000);
});

describe('speech-to-speech, hands-free, end to end in Chromium', () => {
  it('a question with no key pressed is committed at the pause and answered; speech over the reply stops it and is answered', async () => {
    expect(await page.evaluate('document.body.dataset.mode')).toBe('hands-free');
    await page.waitForSelector('[data-testid=hearing]:not([hidden])', { timeout: 60_000 });
    await waitForState(page, 'speaking', 60_000);
    const session = fake.realtimeSessions[0]!;
    expect(fake.realtimeSessions).toHaveLength(1);
    expect((session.session.audio as { input: { turn_detection: unknown } }).input.turn_detection).toMatchObject({ type: 'server_vad', create_response: false, interrupt_response: false });
    expect(session.events.some((event) => event.direction === 'in' && event.type === 'input_audio_buffer.commit'), 'the server commits, not us').toBe(false);
    expect(session.speechEvents.map((event) => event.type).slice(0, 2)).toEqual(['speech_started', 'speech_stopped']);
    const [commit] = session.commits;
    expect(commit!.byServer).toBe(true);
    console.log(`hands-free commit: ${Math.round(commit!.audioMs)} ms, heard "${commit!.transcript}"`);
    expect(wordOverlap(FIRST, commit!.transcript ?? '')).toBeGreaterThanOrEqual(0.6);
    expect(session.items.some((item) => item.contentTypes.includes('input_image'))).toBe(true);
    await page.waitForTimeout(1500); // well into the reply

    const speech = await labelledSpeech(SECOND, 0.3);
    await page.evaluate(`(async (base64) => {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const pcm = new Int16Array(bytes.buffer);
      const context = new AudioContext({ sampleRate: 16000 });
      await context.resume();
      const buffer = context.createBuffer(1, pcm.length, 16000);
      buffer.getChannelData(0).set(Float32Array.from(pcm, (v) => v / 32768));
      const destination = context.createMediaStreamDestination();
      const source = context.createBufferSource();
      source.buffer = buffer;
      source.connect(destination);
      const sender = ${PAGE_PC}.getSenders().find((s) => s.track && s.track.kind === 'audio');
      await sender.replaceTrack(destination.stream.getAudioTracks()[0]);
      source.start();
      window.__e2eInjectedMic = { context, source, destination };
    })(${JSON.stringify(Buffer.from(speech.pcm.buffer, speech.pcm.byteOffset, speech.pcm.byteLength).toString('base64'))})`);

    await expect.poll(() => session.truncations.length, { timeout: 20_000 }).toBe(1);
    const first = session.responses[0]!;
    console.log(`barge-in: truncated at ${session.truncations[0]!.audioEndMs} ms of ${Math.round(first.audioSentMs)} ms sent; status ${first.status}`);
    expect(session.truncations[0]!.itemId).toBe(first.itemId);
    expect(session.truncations[0]!.audioEndMs).toBeGreaterThan(1000);
    await expect.poll(() => first.status, { timeout: 2000 }).toBe('cancelled');

    await page.waitForFunction(
      `(() => { const m = document.querySelectorAll('[data-testid=log] [data-role=assistant]'); return m.length >= 2 && m[m.length - 1].getAttribute('data-done') === 'true'; })()`,
      undefined, { timeout: 60_000, polling: 100 },
    );
    const firstReply = page.locator('[data-testid=log] [data-role=assistant]').first();
    expect(await firstReply.getAttribute('data-cancelled'), 'the first reply was interrupted').toBe('true');
    const second = (await lastMessage(page, 'assistant'))?.text ?? '';
    console.log(`after barge-in: user "${(await lastMessage(page, 'user'))?.text}", assistant "${second}"`);
    expect(second).toMatch(/\bred\b/);
    const answered = session.commits.filter((c) => c.byServer && session.responses.length > 1);
    const secondCommit = answered.find((c) => wordOverlap(SECOND, c.transcript ?? '') >= 0.5);
    expect(secondCommit, `a server commit of the second question among ${JSON.stringify(session.commits.map((c) => c.transcript))}`).toBeDefined();
    await waitForState(page, 'ready', 20_000);
  }, 150_000);
});
