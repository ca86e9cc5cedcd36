/**
 * End to end with the OpenAI engine: Debian Chromium (fake mic = flite speech, fake camera =
 * solid blue) ⇄ the real server over real WebRTC ⇄ the fake OpenAI server (test/fake-openai/).
 * One fake, one server and one browser for the file.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MEDIA_DIR, makeSolidY4m, makeSpeechWav, wavDurationSeconds } from '../../scripts/make-test-media.js';
import { recogniseSpeech, summariseImage } from '../fake-openai/media.js';
import type { ChatReplyInput } from '../fake-openai/wire.js';
import {
  askLoopedQuestion, lastMessage, type LoopedSpeech, messageCount, remoteAudioMarks, rmsWindows, startRemoteAudioCapture,
  stopRemoteAudioCapture, transcribePcm16k, waitForReplyDone, waitForState, wordOverlap, printFailureContext,
} from './harness.js';
import {
  askTyped, chatTurnsOf, findSecret, loudMs, type OpenAIRig, replyGrowth, startOpenAIRig, summarisePicture,
  waitForPlayedLoudMs, waitForRequests, watchReplyGrowth,
} from './openai-probes.js';

const QUESTION = 'please tell me what colour you can see';
const PAD_SECONDS = 1;
const API_KEY = `sk-e2e-${randomBytes(16).toString('hex')}`;
/** ffmpeg's `blue` (0x0000FF) through yuv420p, VP8 and JPEG comes back within a few levels. */
const CAMERA_RGB: [number, number, number] = [0, 0, 255];

/**
 * A long reply for the cancel test. Spoken by flite, LONG_REPLY[0] is loud (10 ms RMS > 0.02) for
 * ~1.7 s and LONG_REPLY[1] for ~3.5 s.
 */
const LONG_REPLY = [
  'Here is the first thing I want to tell you.',
  'The second sentence talks about the weather outside today, which is quite mild.',
  'Third, the garden needs water every morning before nine.',
  'Fourth, the cat sleeps on the warm window sill all afternoon.',
  'Finally, remember to close the door when you go out.',
];
/** Cancel once this much reply has played: all of the first sentence and over a second of the second. */
const PLAYED_LOUD_MS_AT_CANCEL = 1700 + 1200;

let rig: OpenAIRig;
let speech: LoopedSpeech;
/** Every reply the fake wrote, in request order. */
const repliesSent: string[] = [];
let replyScript: (input: ChatReplyInput) => Promise<string> = shortReply;

async function shortReply({ messages }: ChatReplyInput): Promise<string> {
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
    fake: {
      reply: async (input) => {
        const text = await replyScript(input);
        repliesSent.push(text);
        return text;
      },
    },
  });
}, 90_000);

afterAll(async () => {
  await rig?.close();
}, 30_000);

afterEach(({ task }) => {
  if (task.result?.state === 'fail' && rig) {
    printFailureContext(rig.server, rig.pageErrors);
  }
});

interface SpokenTurn {
  transcript: string;
  replyText: string;
  playedPcm: Int16Array;
}

/** Asks the looped spoken question once, with a slowly streamed reply; records the played audio. */
async function askSpokenQuestion(): Promise<SpokenTurn> {
  const { page, fake } = rig;
  fake.setBehaviour('chat', { chunkGapMs: 60 });
  const repliesBefore = await messageCount(page, 'assistant');
  await watchReplyGrowth(page);
  await startRemoteAudioCapture(page);
  await askLoopedQuestion(page, speech);
  const replyText = await waitForReplyDone(page, repliesBefore, 40_000);
  await waitForState(page, 'ready', 20_000);
  await page.waitForTimeout(300); // the reply's tail still in the jitter buffer
  return { transcript: (await lastMessage(page, 'user'))?.text ?? '', replyText, playedPcm: await stopRemoteAudioCapture(page) };
}

let firstTurn: Promise<SpokenTurn> | undefined;
const spokenTurn = (): Promise<SpokenTurn> => (firstTurn ??= askSpokenQuestion());

describe('OpenAI engine, end to end in Chromium', () => {
  it('a spoken question reaches the API as a WAV of those words, with a JPEG of the camera, streamed', async () => {
    const turn = await spokenTurn();
    console.log(`user: ${turn.transcript}\nassistant: ${turn.replyText}`);
    const [transcription] = await waitForRequests(rig.fake, 'transcriptions', 1);
    const wav = transcription!.files.find((file) => file.field === 'file');
    expect(wav, 'multipart field "file"').toBeDefined();
    expect(wav!.bytes.subarray(0, 4).toString('latin1')).toBe('RIFF');
    expect(wav!.bytes.subarray(8, 12).toString('latin1')).toBe('WAVE');
    const heardInUpload = await recogniseSpeech(wav!.bytes);
    console.log(`pocketsphinx on the uploaded WAV (${wav!.bytes.length} bytes): ${heardInUpload}`);
    expect(wordOverlap(QUESTION, heardInUpload)).toBeGreaterThanOrEqual(0.7);
    expect(transcription!.fields.model).toBeTruthy();
    expect(wordOverlap(QUESTION, turn.transcript), 'the transcript shown as the user message').toBeGreaterThanOrEqual(0.7);

    const [chat] = await waitForRequests(rig.fake, 'chat', 1);
    const body = chat!.json as { stream?: unknown; model?: unknown };
    expect(body.stream).toBe(true);
    const turns = chatTurnsOf(chat!);
    const question = turns[turns.length - 1]!;
    expect(question.role).toBe('user');
    expect(question.text).toBe(turn.transcript);
    expect(question.image?.mimeType).toBe('image/jpeg');
    const picture = await summarisePicture(question.image!.bytes);
    console.log(`JPEG sent: ${picture.width}×${picture.height} ${picture.format}, mean RGB ${picture.meanRgb.join(', ')}, detail ${question.image!.detail}`);
    if (picture.meanRgb.some((channel, i) => Math.abs(channel - CAMERA_RGB[i]!) > 40)) {
      const saved = path.join(os.tmpdir(), `openai-e2e-snapshot-${Date.now()}.jpg`);
      await writeFile(saved, question.image!.bytes);
      console.log(`the JPEG sent is not the camera's colour; saved as ${saved}`);
    }
    expect(picture.format).toBe('jpeg');
    expect(picture.width / picture.height).toBeCloseTo(640 / 480, 1);
    picture.meanRgb.forEach((channel, i) => expect(Math.abs(channel - CAMERA_RGB[i]!)).toBeLessThanOrEqual(40));
    expect(turn.replyText).toMatch(/\bblue\b/);
  }, 90_000);

  it('the reply streams into the log delta by delta and its speech plays', async () => {
    const turn = await spokenTurn();
    const growth = await replyGrowth(rig.page);
    const beforeDone = growth.filter((sample) => !sample.done && sample.length > 0);
    const doneAt = growth.find((sample) => sample.done);
    console.log(`reply growth: ${beforeDone.length} lengths before done (${beforeDone.map((s) => s.length).join(' ')}), done at ${doneAt?.atMs.toFixed(0)} ms`);
    expect(beforeDone.length, 'the assistant text grows over several deltas before data-done').toBeGreaterThanOrEqual(5);
    expect(beforeDone[beforeDone.length - 1]!.atMs - beforeDone[0]!.atMs).toBeGreaterThan(200);
    expect(doneAt).toBeDefined();

    const speechRequests = rig.fake.requestsTo('speech');
    expect(speechRequests.length).toBeGreaterThanOrEqual(1);
    for (const request of speechRequests) expect((request.json as { response_format?: unknown }).response_format).toBe('opus');

    const loud = loudMs(rmsWindows(turn.playedPcm));
    const heard = await transcribePcm16k(turn.playedPcm);
    console.log(`played audio: ${loud} ms above RMS 0.02; pocketsphinx heard: ${heard}`);
    expect(loud).toBeGreaterThan(1000);
    expect(wordOverlap(turn.replyText, heard)).toBeGreaterThanOrEqual(0.3);
  }, 90_000);

  it('each reply shows where its time went: data-latency-ms and a timing waterfall', async () => {
    // The reply of the previous (spoken) turn is the last assistant message, done.
    const reply = rig.page.locator('[data-testid=log] [data-role=assistant][data-done=true]').last();
    const latencyMs = Number(await reply.getAttribute('data-latency-ms'));
    expect(latencyMs, 'release → first reply packet').toBeGreaterThan(0);
    expect(latencyMs).toBeLessThan(10_000);
    const waterfall = reply.locator('.waterfall');
    await expect.poll(() => waterfall.count()).toBe(1);
    const rows = await waterfall.locator('.wf-row').evaluateAll((elements) =>
      elements.map((row) => ({
        label: (row as HTMLElement).dataset.label,
        ms: Number((row as HTMLElement).dataset.ms),
        barWidth: (row.querySelector('.wf-bar') as HTMLElement).getBoundingClientRect().width,
      })),
    );
    const labels = rows.map((row) => row.label);
    for (const stage of ['transcript', 'frame', 'first token', 'first sentence', 'first speech byte', 'first sound sent']) {
      expect(labels, `waterfall row "${stage}"`).toContain(stage);
    }
    expect(rows.find((row) => row.label === 'first sound sent')!.ms).toBeCloseTo(latencyMs, -1);
    // A picture, not a table: every row has a drawn bar, and the long stages have long bars.
    expect(rows.every((row) => row.barWidth >= 1)).toBe(true);
    expect(Math.max(...rows.map((row) => row.barWidth))).toBeGreaterThan(20);
    await reply.screenshot({ path: path.join(os.tmpdir(), 'webcam-assistant-waterfall.png') });
  });

  it('a typed question is answered, and its request carries the first turn as history', async () => {
    const first = await spokenTurn();
    const { page, fake } = rig;
    fake.setBehaviour('chat', { chunkGapMs: 10 });
    const chatsBefore = fake.requestsTo('chat').length;
    const repliesBefore = await messageCount(page, 'assistant');
    const typed = 'and is the picture still the same colour';
    await askTyped(page, typed);
    const reply = await waitForReplyDone(page, repliesBefore, 30_000);
    await waitForState(page, 'ready', 20_000);
    expect((await lastMessage(page, 'user'))?.text).toBe(typed);
    expect(reply).toMatch(/\bblue\b/);

    const chats = await waitForRequests(fake, 'chat', chatsBefore + 1);
    const turns = chatTurnsOf(chats[chatsBefore]!);
    console.log(`second request: ${turns.map((t) => `${t.role}${t.image ? '+image' : ''}: ${t.text.slice(0, 50)}`).join(' | ')}`);
    const firstQuestionAt = turns.findIndex((t) => t.role === 'user' && t.text === first.transcript);
    const firstAnswerAt = turns.findIndex((t) => t.role === 'assistant' && t.text === repliesSent[0]);
    const last = turns[turns.length - 1]!;
    expect(firstQuestionAt, 'the first question is in the history').toBeGreaterThanOrEqual(0);
    expect(firstAnswerAt, 'the first answer is in the history').toBeGreaterThan(firstQuestionAt);
    expect(firstAnswerAt).toBeLessThan(turns.length - 1);
    expect(last.role).toBe('user');
    expect(last.text).toBe(typed);
    expect(last.image?.mimeType).toBe('image/jpeg');
  }, 60_000);

  it('Escape while speaking stops the voice within 200 ms, history keeps only what was heard, the next question works', async () => {
    const { page, fake } = rig;
    replyScript = async () => LONG_REPLY.join(' ');
    // The chat sends the first three sentences, then holds the stream open: it is in flight at the cancel.
    const wordsOfFirstThree = LONG_REPLY.slice(0, 3).join(' ').split(/\s+/).length;
    fake.setBehaviour('chat', { chunkGapMs: 20, failure: { kind: 'stall', afterChunks: 1 + wordsOfFirstThree } });
    const chatsBefore = fake.requestsTo('chat').length;
    const repliesBefore = await messageCount(page, 'assistant');
    await startRemoteAudioCapture(page);
    await askTyped(page, 'tell me a few things about today');
    await waitForState(page, 'speaking', 30_000);
    await waitForPlayedLoudMs(page, PLAYED_LOUD_MS_AT_CANCEL, 30_000);
    const pressedAt = Date.now();
    await page.keyboard.press('Escape');
    await page.waitForFunction(`document.body.dataset.state !== 'speaking'`, undefined, { timeout: 2000, polling: 10 });
    const stateLeftMs = Date.now() - pressedAt;
    await waitForState(page, 'ready', 2000);
    await page.waitForTimeout(1200);
    const pcm = await stopRemoteAudioCapture(page);
    const escape = (await remoteAudioMarks(page)).find((mark) => mark.label === 'Escape' && mark.type === 'keydown');
    expect(escape, 'the recorder saw the Escape keydown').toBeDefined();

    const windowMs = 10;
    const rms = rmsWindows(pcm, windowMs);
    const escapeWindow = Math.floor(escape!.sample / (16 * windowMs));
    const loudBefore = Math.max(...rms.slice(Math.max(0, escapeWindow - 50), escapeWindow));
    let lastLoud = escapeWindow;
    for (let i = escapeWindow; i < rms.length; i++) if (rms[i]! > 0.01) lastLoud = i;
    const quietAfterMs = (lastLoud + 1 - escapeWindow) * windowMs;
    const cancelledChat = fake.requestsTo('chat')[chatsBefore]!;
    const chatOutcome = await Promise.race([cancelledChat.closed, new Promise((resolve) => setTimeout(() => resolve('still open'), 2000))]);
    console.log(`cancel: state left "speaking" after ${stateLeftMs} ms; played audio quiet ${quietAfterMs} ms after Escape (peak RMS before ${loudBefore.toFixed(3)}); chat request ${String(chatOutcome)}`);
    expect(loudBefore, 'the reply was audible just before Escape').toBeGreaterThan(0.02);
    expect(stateLeftMs).toBeLessThan(500);
    expect(quietAfterMs).toBeLessThanOrEqual(200);
    expect(rms.length - lastLoud, 'stays quiet afterwards (≥ 0.8 s)').toBeGreaterThan(80);
    expect(chatOutcome, 'the in-flight chat request was aborted').toBe('client_closed');
    const cancelled = await lastMessage(page, 'assistant');
    expect(await messageCount(page, 'assistant')).toBe(repliesBefore + 1);
    expect(cancelled?.text, 'the second sentence had been written by the cancel').toContain(LONG_REPLY[1]!.slice(0, 30));

    replyScript = shortReply;
    fake.setBehaviour('chat', { chunkGapMs: 10 });
    await askTyped(page, 'are you still there');
    const next = await waitForReplyDone(page, repliesBefore + 1, 30_000);
    await waitForState(page, 'ready', 20_000);
    expect(next).toMatch(/\bblue\b/);
    const turns = chatTurnsOf(fake.requestsTo('chat')[chatsBefore + 1]!);
    const heardReply = turns.filter((t) => t.role === 'assistant').map((t) => t.text).find((text) => text.includes(LONG_REPLY[0]!));
    console.log(`history after the cancel keeps: ${JSON.stringify(heardReply)}`);
    expect(heardReply, 'the sentence heard in full stays in history').toBeDefined();
    expect(heardReply, 'the sentence cut off is not in history').not.toContain(LONG_REPLY[1]!.slice(0, 30));
  }, 90_000);

  it('the API key never reaches the browser', async () => {
    const { page, fake, traffic } = rig;
    const modelCalls = fake.requests.filter((request) => request.endpoint !== 'unknown');
    expect(modelCalls.length).toBeGreaterThan(0);
    for (const request of modelCalls) expect(request.headers.authorization).toBe(`Bearer ${API_KEY}`);
    // The connection warm-ups (a GET of the base URL when the call opens and while Space is held) carry no key.
    const warmUps = fake.requests.filter((request) => request.endpoint === 'unknown');
    expect(warmUps.length).toBeGreaterThan(0);
    for (const request of warmUps) {
      expect(request).toMatchObject({ method: 'GET', path: '/v1' });
      expect(request.headers.authorization).toBeUndefined();
    }
    expect(traffic.socketFrames.some((frame) => frame.includes('turn:delta')), 'socket.io frames were recorded').toBe(true);
    const scripts = traffic.httpBodies.filter(({ url }) => url.endsWith('.js')).map(({ url }) => new URL(url).pathname);
    expect(scripts).toEqual(expect.arrayContaining(['/app.js', '/js/conversation.js']));

    const storage = (await page.evaluate('JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie })')) as string;
    const haystacks = [
      { where: 'page HTML', text: await page.content() },
      { where: 'storage and cookies', text: storage },
      ...traffic.httpBodies.map(({ url, body }) => ({ where: `response ${url}`, text: body })),
      ...traffic.socketFrames.map((frame, i) => ({ where: `socket frame ${i}: ${frame.slice(0, 80)}`, text: frame })),
    ];
    console.log(`searched ${haystacks.length} texts (${traffic.socketFrames.length} socket frames, ${traffic.httpBodies.length} responses)`);
    const secretPart = API_KEY.slice(-16);
    expect(findSecret(haystacks, API_KEY)).toEqual([]);
    expect(findSecret(haystacks, secretPart)).toEqual([]);
  }, 30_000);
});
