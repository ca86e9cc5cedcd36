import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage, MicSegment } from '../../server/assistant/engine.js';
import { OfflineChatModel } from '../../server/assistant/offline/chat-model.js';
import { OfflineTranscriber } from '../../server/assistant/offline/transcriber.js';

const QUESTION = 'What do you see in front of me';
let workDir: string;
let segment: MicSegment;
let redJpeg: Buffer;

async function collect(stream: AsyncIterable<string>): Promise<string[]> {
  const deltas: string[] = [];
  for await (const delta of stream) deltas.push(delta);
  return deltas;
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'offline-engine-test-'));
  const wav = join(workDir, 'question.wav');
  execFileSync('flite', ['-voice', 'slt', '-t', QUESTION, '-o', wav]);
  const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', wav, '-f', 's16le', '-ac', '1', '-ar', '48000', 'pipe:1']);
  const pcm = new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
  const durationMs = (pcm.length / 48) | 0;
  segment = { pcm, sampleRate: 48_000, durationMs, speechMs: durationMs };
  redJpeg = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 220, g: 20, b: 30 } } })
    .jpeg()
    .toBuffer();
});
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

describe('OfflineChatModel', () => {
  it('hears a spoken question and answers with what it heard and the colour it sees', async () => {
    const engine = new OfflineChatModel();
    expect(engine.provider).toBe('offline');
    const transcript = await new OfflineTranscriber().transcribe(segment, new AbortController().signal);
    expect(transcript).toMatch(/what do you see in front of me/);

    const question: ChatMessage = {
      role: 'user',
      text: transcript,
      image: { jpeg: redJpeg, width: 640, height: 480, source: 'camera' },
    };
    const deltas = await collect(engine.chat([], question, new AbortController().signal));
    const reply = deltas.join('');
    expect(deltas.length).toBeGreaterThan(10); // streamed word by word, not in one piece
    expect(reply).toContain(`I heard: ${transcript}.`);
    expect(reply).toContain('I see a 640 by 480 picture, mostly red');
    expect(reply).toContain('OPENAI_API_KEY');
  });

  it('says when there is no picture yet, and counts earlier questions', async () => {
    const history: ChatMessage[] = [
      { role: 'user', text: 'hello' },
      { role: 'assistant', text: 'Hi.' },
    ];
    const reply = (await collect(new OfflineChatModel({ wordDelayMs: 0 }).chat(history, { role: 'user', text: '' }, new AbortController().signal))).join('');
    expect(reply).toMatch(/didn't catch any words/);
    expect(reply).toMatch(/video isn't available yet/);
    expect(reply).toMatch(/question 2 in this conversation/);
    expect(reply).not.toMatch(/I see a/);
  });

  it('stops streaming the reply when aborted', async () => {
    const controller = new AbortController();
    const deltas: string[] = [];
    const chat = new OfflineChatModel({ wordDelayMs: 20 }).chat([], { role: 'user', text: 'tell me a story' }, controller.signal);
    const consumed = (async () => {
      for await (const delta of chat) {
        deltas.push(delta);
        if (deltas.length === 3) controller.abort();
      }
    })();
    await expect(consumed).rejects.toMatchObject({ name: 'AbortError' });
    expect(deltas).toHaveLength(3);
  });
});
