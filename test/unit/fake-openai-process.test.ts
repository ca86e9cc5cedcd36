/**
 * The fake OpenAI API in its own process (what the bench uses): driven by the `openai` package
 * over real HTTP, reconfigured over IPC, and its request timings fetched back.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIProcess, type FakeOpenAIProcess } from '../fake-openai/process.js';

let fake: FakeOpenAIProcess;

beforeAll(async () => {
  fake = await startFakeOpenAIProcess({
    apiKey: 'k',
    reply: 'First reply.',
    behaviour: { chat: { firstByteDelayMs: 120 } },
  });
});
afterAll(async () => {
  await fake?.close();
});

async function ask(client: OpenAI): Promise<string> {
  const stream = await client.chat.completions.create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  return text;
}

describe('startFakeOpenAIProcess', () => {
  it('runs in another process, answers with the configured reply and reports timings on its own clock', async () => {
    expect(fake.pid).not.toBe(process.pid);
    const client = new OpenAI({ apiKey: 'k', baseURL: fake.baseURL, maxRetries: 0 });
    expect(await ask(client)).toBe('First reply.');
    await fake.configure({ reply: 'Second reply.' });
    expect(await ask(client)).toBe('Second reply.');

    const requests = await fake.takeRequests();
    expect(requests.map((r) => [r.endpoint, r.status, r.outcome])).toEqual([
      ['chat', 200, 'complete'],
      ['chat', 200, 'complete'],
    ]);
    for (const r of requests) {
      expect(r.firstByteAt! - r.receivedAt).toBeGreaterThanOrEqual(119);
      expect(r.lastByteAt!).toBeGreaterThanOrEqual(r.firstByteAt!);
      expect(r.chunksSent).toBeGreaterThan(2);
    }
    expect(await fake.takeRequests()).toEqual([]);
  });

  it('takes new behaviour and synthesises speech ahead of time', async () => {
    await fake.setBehaviour('speech', { failure: { kind: 'status', status: 503 }, failureTimes: 1 });
    await fake.prewarmSpeech(['Ready in advance.']);
    const client = new OpenAI({ apiKey: 'k', baseURL: fake.baseURL, maxRetries: 0 });
    const speak = () => client.audio.speech.create({ model: 'm', voice: 'alloy', input: 'Ready in advance.', response_format: 'opus' });
    await expect(speak()).rejects.toMatchObject({ status: 503 });
    const ogg = Buffer.from(await (await speak()).arrayBuffer());
    expect(ogg.subarray(0, 4).toString('latin1')).toBe('OggS');
    const [failed, spoken] = await fake.takeRequests();
    expect(failed.status).toBe(503);
    // Cached by prewarmSpeech: no flite + ffmpeg run between request and first byte.
    expect(spoken.firstByteAt! - spoken.receivedAt).toBeLessThan(50);
  });

  it('rejects calls once the process is gone', async () => {
    const short = await startFakeOpenAIProcess();
    await short.close();
    await expect(short.takeRequests()).rejects.toThrow(/exited/);
  });
});
