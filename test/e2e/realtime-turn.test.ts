/**
 * End to end with the speech-to-speech engine (ASSISTANT_ENGINE=realtime): Debian Chromium (fake
 * mic = flite speech, fake camera = solid blue) ⇄ the real server over real WebRTC ⇄ the fake's GA
 * Realtime session, which transcribes the audio it received, looks at the image it was sent and
 * speaks its reply as PCM16 deltas. One fake, one server and one browser for the file.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MEDIA_DIR, makeSolidY4m, makeSpeechWav, wavDurationSeconds } from '../../scripts/make-test-media.js';
import { summariseImage } from '../fake-openai/media.js';
import type { ChatReplyInput } from '../fake-openai/wire.js';
import {
  askLoopedQuestion, lastMessage, type LoopedSpeech, messageCount, printFailureContext, remoteAudioMarks, rmsWindows,
  startRemoteAudioCapture, stopRemoteAudioCapture, transcribePcm16k, waitForReplyDone, waitForState, wordOverlap,
} from './harness.js';
import {
  askTyped, findSecret, lastTurnDone, loudMs, type OpenAIRig, replyGrowth, startOpenAIRig, summarisePicture, waitForErrorText,
  waitForPlayedLoudMs, watchReplyGrowth,
} from './openai-probes.js';

const QUESTION = 'please tell me what colour you can see';
const PAD_SECONDS = 1;
const API_KEY = `sk-e2e-${randomBytes(16).toString('hex')}`;
const LONG_REPLY =
  'Here is the first thing I want to tell you. The second sentence talks about the weather outside today, which is quite mild. ' +
  'Third, the garden needs water every morning before nine. Fourth, the cat sleeps on the warm window sill all afternoon.';

let rig: OpenAIRig;

/** The capture from 200 ms before its first loud 10 ms on (pocketsphinx has less to chew on). */
function fromFirstSound(pcm: Int16Array): Int16Array {
  const first = rmsWindows(pcm, 10).findIndex((value) => value > 0.02);
  return first < 0 ? pcm : pcm.subarray(Math.max(0, first - 20) * 160);
}
let speech: LoopedSpeech;
let replyScript: (input: ChatReplyInput) => Promise<string> = colourReply;

async function colourReply({ messages }: ChatReplyInput): Promise<string> {
  const question = [...messages].reverse().find((turn) => turn.role === 'user');
  if (!question?.image) return 'I was not sent a picture. Please try again with the camera on.';
  const seen = await summariseImage(question.image.bytes);
  return `I can see a mostly ${seen.colourName} picture. That is all I can tell you for now.`;
}

beforeAll(async () => {
  const [audioWav, videoY4m] = await Promise.all([
    makeSpeechWav(QUESTION, path.join(DEFAULT_MEDIA_DIR, 'question-colour.wav'), { padSeconds: PAD_SECONDS }),
    makeSolidY4m('blue', path.join(DEFAULT_MEDIA_DIR, 'blue-640x480.y4m')),
  ]);
  speech = { speechSeconds: (await wavDurationSeconds(audioWav)) - 2 * PAD_SECONDS, padSeconds: PAD_SECONDS };
  rig = await startOpenAIRig({
    apiKey: API_KEY,
    media: { audioWav, videoY4m },
    fake: { reply: (input) => replyScript(input) },
    serverEnv: { ASSISTANT_ENGINE: 'realtime', REALTIME_MODEL: 'gpt-realtime', REALTIME_VOICE: 'marin' },
  });
}, 90_000);

afterAll(async () => {
  await rig?.close();
}, 30_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && rig) printFailureContext(rig.server, rig.pageErrors);
  rig?.fake.setBehaviour('realtime', {});
  rig?.fake.configure({ realtimeConversation: undefined });
  replyScript = colourReply;
});

describe('speech-to-speech engine, end to end in Chromium', () => {
  it('push-to-talk: the spoken question goes to the model as audio with the camera frame, and its voice answers naming the colour', async () => {
    const { page, fake } = rig;
    // About 2.5× real time, like the API: the words stream into the log while the voice plays.
    fake.setBehaviour('realtime', { chunkGapMs: 40 });
    const [session] = fake.realtimeSessions;
    expect(session, 'the socket opened when the call connected, before any talk').toBeDefined();
    expect(session!.path).toBe('/v1/realtime?model=gpt-realtime');
    expect(session!.commits).toHaveLength(0);

    const repliesBefore = await messageCount(page, 'assistant');
    await watchReplyGrowth(page);
    await startRemoteAudioCapture(page);
    await askLoopedQuestion(page, speech);
    const replyText = await waitForReplyDone(page, repliesBefore, 40_000);
    await waitForState(page, 'ready', 20_000);
    await page.waitForTimeout(300);
    const played = fromFirstSound(await stopRemoteAudioCapture(page));
    const user = (await lastMessage(page, 'user'))?.text ?? '';
    console.log(`user: ${user}\nassistant: ${replyText}`);

    expect(fake.realtimeSessions, 'one socket for the call').toHaveLength(1);
    expect(session!.session).toMatchObject({ type: 'realtime', audio: { input: { turn_detection: null, transcription: { model: 'gpt-4o-mini-transcribe' } }, output: { voice: 'marin' } } });
    const [commit] = session!.commits;
    expect(commit!.audioMs).toBeGreaterThan(speech.speechSeconds * 1000);
    console.log(`the fake heard in the committed audio (${Math.round(commit!.audioMs)} ms): ${commit!.transcript}`);
    expect(wordOverlap(QUESTION, commit!.transcript ?? '')).toBeGreaterThanOrEqual(0.7);
    expect(user, 'the input transcription is the user message').toBe(commit!.transcript);

    const image = session!.items.find((item) => item.contentTypes.includes('input_image'))!;
    expect(image.image!.mimeType).toBe('image/jpeg');
    const picture = await summarisePicture(image.image!.bytes);
    expect(picture.width / picture.height).toBeCloseTo(640 / 480, 1);
    picture.meanRgb.forEach((channel, i) => expect(Math.abs(channel - [0, 0, 255][i]!)).toBeLessThanOrEqual(40));
    expect(replyText).toMatch(/\bblue\b/);
    expect(fake.requests.filter((request) => request.endpoint !== 'unknown'), 'no cascade calls').toEqual([]);

    const growth = (await replyGrowth(page)).filter((sample) => !sample.done && sample.length > 0);
    expect(growth.length, 'the words stream into the log').toBeGreaterThanOrEqual(4);
    const loud = loudMs(rmsWindows(played));
    const heard = await transcribePcm16k(played);
    console.log(`played: ${loud} ms loud; pocketsphinx heard: ${heard}`);
    expect(loud).toBeGreaterThan(1500);
    expect(wordOverlap(replyText, heard)).toBeGreaterThanOrEqual(0.3);

    const done = lastTurnDone(rig.traffic)!;
    const marks = done.timeline!.map((entry) => entry.mark);
    console.log(`timeline: ${done.timeline!.map((e) => `${e.mark} ${e.atMs}`).join(', ')}`);
    for (const mark of ['release', 'commitSent', 'responseSent', 'firstAudioDelta', 'firstRtp']) expect(marks).toContain(mark);
    const at = (mark: string) => done.timeline!.find((entry) => entry.mark === mark)!.atMs;
    expect(at('commitSent')).toBeLessThanOrEqual(at('responseSent'));
    expect(at('responseSent')).toBeLessThanOrEqual(at('firstAudioDelta'));
    expect(at('firstAudioDelta')).toBeLessThanOrEqual(at('firstRtp'));
    expect(done.latencyMs).toBeCloseTo(at('firstRtp'), -1);
    const labels = await page.locator('[data-testid=log] [data-role=assistant][data-done=true]').last().locator('.wf-row').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.label));
    expect(labels).toEqual(expect.arrayContaining(['commit sent', 'first audio delta', 'first sound sent']));
  }, 150_000);

  it('Escape while it speaks: silent within 200 ms, response.cancel, the reply truncated at the audio played; the next question works', async () => {
    const { page, fake } = rig;
    replyScript = async () => LONG_REPLY;
    // Generated a little faster than real time (100 ms of audio every 90 ms): still coming when the user cancels.
    fake.setBehaviour('realtime', { chunkGapMs: 90 });
    const session = fake.realtimeSessions[0]!;
    const responsesBefore = session.responses.length;
    const repliesBefore = await messageCount(page, 'assistant');
    await startRemoteAudioCapture(page);
    await askTyped(page, 'tell me a few things about today');
    await waitForState(page, 'speaking', 30_000);
    await waitForPlayedLoudMs(page, 2000, 30_000);
    await page.keyboard.press('Escape');
    await waitForState(page, 'ready', 2000);
    await page.waitForTimeout(1200);
    const pcm = await stopRemoteAudioCapture(page);
    const escape = (await remoteAudioMarks(page)).find((mark) => mark.label === 'Escape' && mark.type === 'keydown')!;
    const rms = rmsWindows(pcm, 10);
    const escapeWindow = Math.floor(escape.sample / 160);
    let lastLoud = escapeWindow;
    for (let i = escapeWindow; i < rms.length; i++) if (rms[i]! > 0.01) lastLoud = i;
    const firstLoud = rms.findIndex((value) => value > 0.02);
    const quietAfterMs = (lastLoud + 1 - escapeWindow) * 10;
    const response = session.responses[responsesBefore]!;
    await expect.poll(() => session.truncations.length, { timeout: 5000 }).toBeGreaterThan(0);
    const truncation = session.truncations.at(-1)!;
    const playedBeforeEscapeMs = (escapeWindow - firstLoud) * 10;
    console.log(`cancel: quiet ${quietAfterMs} ms after Escape; truncated at ${truncation.audioEndMs} ms; the page played ~${playedBeforeEscapeMs} ms before Escape; ` +
      `the fake had sent ${Math.round(response.audioSentMs)} ms, status ${response.status}`);
    expect(quietAfterMs).toBeLessThanOrEqual(200);
    expect(session.events.some((event) => event.direction === 'in' && event.type === 'response.cancel' && event.at > response.requestedAt)).toBe(true);
    expect(response.status).toBe('cancelled');
    expect(truncation.itemId).toBe(response.itemId);
    expect(response.audioSentMs).toBeLessThan(10_000); // the rest was never generated
    // The sender's count is what left the server; the page's jitter buffer plays it ~100–300 ms later.
    expect(truncation.audioEndMs).toBeGreaterThan(playedBeforeEscapeMs - 200);
    expect(truncation.audioEndMs).toBeLessThan(playedBeforeEscapeMs + 600);
    const cancelled = await lastMessage(page, 'assistant');
    expect(await messageCount(page, 'assistant')).toBe(repliesBefore + 1);
    expect(cancelled?.text.length).toBeGreaterThan(0);

    replyScript = colourReply;
    fake.setBehaviour('realtime', {});
    await askTyped(page, 'are you still there');
    expect(await waitForReplyDone(page, repliesBefore + 1, 30_000)).toMatch(/\bblue\b/);
    await waitForState(page, 'ready', 20_000);
  }, 90_000);

  it('a rate-limited reply and a socket lost mid-reply are each told in words; the call goes on', async () => {
    const { page, fake } = rig;
    fake.configure({ realtimeConversation: { responseError: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached for requests per min.' } } });
    await askTyped(page, 'what now');
    expect(await waitForErrorText(page)).toMatch(/limit/i);
    await waitForState(page, 'ready', 20_000);

    fake.configure({ realtimeConversation: { cutAfterAudioDeltas: 2 } });
    const sessionsBefore = fake.realtimeSessions.length;
    await page.evaluate(`document.querySelector('[data-testid=error]').textContent = ''`);
    await askTyped(page, 'and now');
    expect(await waitForErrorText(page)).toMatch(/cut off/i);
    await waitForState(page, 'ready', 20_000);

    fake.configure({ realtimeConversation: undefined });
    const repliesBefore = await messageCount(page, 'assistant');
    await askTyped(page, 'one more time please');
    expect(await waitForReplyDone(page, repliesBefore, 30_000)).toMatch(/\bblue\b/);
    expect(fake.realtimeSessions.length, 'a new socket after the drop').toBe(sessionsBefore + 1);
  }, 90_000);

  it('the API key never reaches the browser', async () => {
    const { page, fake, traffic } = rig;
    for (const session of fake.realtimeSessions) expect(session.headers.authorization).toBe(`Bearer ${API_KEY}`);
    const haystacks = [
      { where: 'page HTML', text: await page.content() },
      ...traffic.httpBodies.map(({ url, body }) => ({ where: `response ${url}`, text: body })),
      ...traffic.socketFrames.map((frame, i) => ({ where: `socket frame ${i}`, text: frame })),
    ];
    expect(findSecret(haystacks, API_KEY.slice(-16))).toEqual([]);
  });
});
