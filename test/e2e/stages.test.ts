/**
 * End to end with each stage from its own provider, in Debian Chromium over real WebRTC:
 *  - offline speech-to-text (pocketsphinx in the server) + the fake's chat + the fake's TTS in
 *    PCM (encoded to Opus by the server): the reply is heard;
 *  - streamed speech-to-text (STT_STREAMING=on, the fake's Realtime transcription WebSocket): no
 *    upload is made, and the question's words show in the page while Space is still held.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MEDIA_DIR, makeSolidY4m, makeSpeechWav, wavDurationSeconds } from '../../scripts/make-test-media.js';
import { summariseImage } from '../fake-openai/media.js';
import type { ChatReplyInput } from '../fake-openai/wire.js';
import {
  askLoopedQuestion, lastMessage, messageCount, printFailureContext, rmsWindows, startRemoteAudioCapture, stopRemoteAudioCapture,
  transcribePcm16k, waitForMicSpeechEnd, waitForReplyDone, waitForState, wordOverlap,
} from './harness.js';
import { askTyped, chatTurnsOf, loudMs, type OpenAIRig, startOpenAIRig, waitForErrorText, waitForRequests } from './openai-probes.js';

const run = promisify(execFile);
const API_KEY = `sk-e2e-${randomBytes(12).toString('hex')}`;
const QUESTION = 'please tell me what colour you can see';

async function shortReply({ messages }: ChatReplyInput): Promise<string> {
  const question = [...messages].reverse().find((turn) => turn.role === 'user');
  if (!question?.image) return 'I was not sent a picture. Please try again with the camera on.';
  const seen = await summariseImage(question.image.bytes);
  return `I can see a mostly ${seen.colourName} picture. That is all I can tell you for now.`;
}

/** What the page's stage line says, by stage. */
async function stagesShown(rig: OpenAIRig): Promise<Record<string, { provider: string; text: string }>> {
  return rig.page.evaluate(`Object.fromEntries([...document.querySelectorAll('[data-testid=stages] [data-stage]')]
    .map((el) => [el.dataset.stage, { provider: el.dataset.provider, text: el.textContent }]))`) as Promise<Record<string, { provider: string; text: string }>>;
}

/** Closes the describe block's rig at its end, and prints its context after a failed case. */
function closeRigAfterAll(rigOf: () => OpenAIRig | undefined): void {
  afterAll(async () => {
    await rigOf()?.close();
  }, 30_000);
  afterEach(({ task }) => {
    const rig = rigOf();
    if (task.result?.state === 'fail' && rig) printFailureContext(rig.server, rig.pageErrors);
  });
}

describe('offline STT + OpenAI-compatible chat + TTS in PCM', () => {
  let rig: OpenAIRig;
  let speechSeconds: number;

  beforeAll(async () => {
    const [audioWav, videoY4m] = await Promise.all([
      makeSpeechWav(QUESTION, path.join(DEFAULT_MEDIA_DIR, 'question-colour.wav'), { padSeconds: 1 }),
      makeSolidY4m('blue', path.join(DEFAULT_MEDIA_DIR, 'blue-640x480.y4m')),
    ]);
    speechSeconds = (await wavDurationSeconds(audioWav)) - 2;
    rig = await startOpenAIRig({
      apiKey: API_KEY,
      media: { audioWav, videoY4m },
      fake: { reply: shortReply },
      serverEnv: { ASSISTANT_ENGINE: '', STT_PROVIDER: 'offline', CHAT_PROVIDER: 'openai', TTS_PROVIDER: 'openai', TTS_FORMAT: 'pcm' },
    });
  }, 90_000);
  closeRigAfterAll(() => rig);

  it('hears the question locally, asks the fake for the reply and PCM speech, and the reply is heard', async () => {
    const { page, fake } = rig;
    const shown = await stagesShown(rig);
    expect(shown.stt?.provider).toBe('offline');
    expect(shown.chat?.provider).toBe('openai');
    expect(shown.tts).toMatchObject({ provider: 'openai' });
    expect(shown.tts!.text).toContain('pcm audio');

    const repliesBefore = await messageCount(page, 'assistant');
    await startRemoteAudioCapture(page);
    await askLoopedQuestion(page, { speechSeconds, padSeconds: 1 });
    const replyText = await waitForReplyDone(page, repliesBefore, 40_000);
    await waitForState(page, 'ready', 20_000);
    await page.waitForTimeout(300);
    const played = await stopRemoteAudioCapture(page);
    const heardQuestion = (await lastMessage(page, 'user'))?.text ?? '';

    expect(fake.requestsTo('transcriptions'), 'speech-to-text ran in the server, not at the fake').toHaveLength(0);
    expect(wordOverlap(QUESTION, heardQuestion)).toBeGreaterThanOrEqual(0.7);
    const [chat] = await waitForRequests(fake, 'chat', 1);
    const question = chatTurnsOf(chat!).at(-1)!;
    expect(question.text).toBe(heardQuestion);
    expect(question.image?.mimeType).toBe('image/jpeg');
    expect(replyText).toMatch(/\bblue\b/);

    const speech = fake.requestsTo('speech');
    expect(speech.length).toBeGreaterThanOrEqual(1);
    for (const request of speech) expect((request.json as { response_format?: string }).response_format).toBe('pcm');
    const loud = loudMs(rmsWindows(played));
    const heardReply = await transcribePcm16k(played);
    console.log(`user: ${heardQuestion}\nassistant: ${replyText}\nplayed ${loud} ms loud; pocketsphinx heard: ${heardReply}`);
    expect(loud).toBeGreaterThan(1000);
    expect(wordOverlap(replyText, heardReply)).toBeGreaterThanOrEqual(0.3);
  }, 90_000);

  it('a TTS server that refuses the format: the page says so plainly, and the call goes on', async () => {
    const { page, fake } = rig;
    fake.configure({ speechFormats: ['opus', 'mp3'] });
    const repliesBefore = await messageCount(page, 'assistant');
    await askTyped(page, 'what colour is it now');
    const error = await waitForErrorText(page, 30_000);
    console.log(`shown: ${error}`);
    expect(error).toMatch(/refused TTS_FORMAT=pcm/);
    expect(error).toMatch(/Set TTS_FORMAT/);
    await waitForState(page, 'ready', 20_000);
    expect(await messageCount(page, 'assistant'), 'the reply text still arrived').toBe(repliesBefore + 1);

    fake.configure({ speechFormats: undefined });
    await startRemoteAudioCapture(page);
    await askTyped(page, 'and now');
    const replyText = await waitForReplyDone(page, repliesBefore + 1, 30_000);
    await waitForState(page, 'ready', 20_000);
    await page.waitForTimeout(300);
    const loud = loudMs(rmsWindows(await stopRemoteAudioCapture(page)));
    expect(replyText).toMatch(/\bblue\b/);
    expect(loud, 'the next reply is spoken').toBeGreaterThan(1000);
  }, 60_000);
});

describe('streamed STT (OpenAI Realtime transcription)', () => {
  const FIRST = 'please tell me';
  const SECOND = 'what colour you can see';
  const PAUSE_SECONDS = 0.9;
  const LOOP_GAP_SECONDS = 3;
  let rig: OpenAIRig;
  let first: number;
  let second: number;

  beforeAll(async () => {
    // "please tell me … what colour you can see", with a pause in the middle the server commits at
    // while Space is still held, and 3 s of silence between loops of the file.
    const parts = await Promise.all([
      makeSpeechWav(FIRST, path.join(DEFAULT_MEDIA_DIR, 'question-part-1.wav'), { padSeconds: PAUSE_SECONDS / 2 }),
      makeSpeechWav(SECOND, path.join(DEFAULT_MEDIA_DIR, 'question-part-2.wav'), { padSeconds: PAUSE_SECONDS / 2 }),
    ]);
    [first, second] = await Promise.all(parts.map(async (wav) => (await wavDurationSeconds(wav)) - PAUSE_SECONDS));
    const audioWav = path.join(DEFAULT_MEDIA_DIR, 'question-with-pause.wav');
    const outerPad = String((LOOP_GAP_SECONDS - PAUSE_SECONDS) / 2);
    await run('sox', ['-R', parts[0]!, parts[1]!, audioWav, 'pad', outerPad, outerPad]);
    const videoY4m = await makeSolidY4m('blue', path.join(DEFAULT_MEDIA_DIR, 'blue-640x480.y4m'));
    rig = await startOpenAIRig({
      apiKey: API_KEY,
      media: { audioWav, videoY4m },
      fake: { reply: shortReply },
      serverEnv: { STT_STREAMING: 'on' },
    });
  }, 90_000);
  closeRigAfterAll(() => rig);

  it('shows the words while Space is held, makes no upload, and answers the whole question', async () => {
    const { page, fake } = rig;
    expect((await stagesShown(rig)).stt!.text).toContain('streamed');
    await page.evaluate(`(() => {
      const log = document.querySelector('[data-testid=log]');
      const seen = { samples: [], releasedAt: null };
      const note = () => {
        const users = log.querySelectorAll('[data-role=user]');
        const last = users[users.length - 1];
        const text = last ? (last.textContent || '') : '';
        const prev = seen.samples[seen.samples.length - 1];
        if (!prev || prev.text !== text) seen.samples.push({ at: performance.now(), text, partial: last?.dataset.partial === 'true' });
      };
      new MutationObserver(note).observe(log, { subtree: true, childList: true, characterData: true, attributes: true });
      window.addEventListener('keyup', (e) => { if (e.key === ' ') seen.releasedAt = performance.now(); }, true);
      window.__userText = seen;
    })()`);
    const repliesBefore = await messageCount(page, 'assistant');
    // Start in the long gap between loops; hold over both parts and let go 0.6 s after the second.
    await waitForMicSpeechEnd(page, 20_000, 1500);
    const holdMs = Math.round((LOOP_GAP_SECONDS - 1.5 - 0.1 + first + PAUSE_SECONDS + second + 0.6) * 1000);
    await page.keyboard.down('Space');
    await page.waitForTimeout(holdMs);
    await page.keyboard.up('Space');
    const replyText = await waitForReplyDone(page, repliesBefore, 40_000);
    await waitForState(page, 'ready', 20_000);

    const seen = (await page.evaluate('window.__userText')) as { samples: Array<{ at: number; text: string; partial: boolean }>; releasedAt: number };
    const whileHeld = seen.samples.filter((sample) => sample.at < seen.releasedAt && sample.text.trim() !== '');
    const final = (await lastMessage(page, 'user'))?.text ?? '';
    console.log(`while held: ${JSON.stringify(whileHeld.map((s) => s.text))}\nfinal: ${final}\nassistant: ${replyText}`);
    expect(whileHeld.length, 'the user message had words before the release').toBeGreaterThanOrEqual(2);
    expect(whileHeld.every((sample) => sample.partial)).toBe(true);
    expect(new Set(whileHeld.map((sample) => sample.text.length)).size, 'and they grew').toBeGreaterThanOrEqual(2);
    expect(wordOverlap(FIRST, whileHeld.at(-1)!.text)).toBeGreaterThanOrEqual(0.6);
    expect(wordOverlap(QUESTION, final)).toBeGreaterThanOrEqual(0.7);
    expect(await messageCount(page, 'user')).toBe(1);

    expect(fake.requestsTo('transcriptions'), 'no upload request').toHaveLength(0);
    expect(fake.realtimeSessions).toHaveLength(1);
    const [session] = fake.realtimeSessions;
    expect(session!.path).toBe('/v1/realtime?intent=transcription');
    expect(session!.commits.filter((commit) => commit.itemId).length).toBeGreaterThanOrEqual(2);
    expect(session!.appendedBytes / 48_000, 'seconds of 24 kHz PCM16 streamed').toBeGreaterThan(first + second);
    const [chat] = await waitForRequests(fake, 'chat', 1);
    expect(chatTurnsOf(chat!).at(-1)!.text).toBe(final);
    expect(replyText).toMatch(/\bblue\b/);
  }, 90_000);
});
