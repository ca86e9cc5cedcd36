/**
 * The fake's server turn detection: the detector on its own (start/stop positions from the session
 * config), and the session's events over a socket (speech_started / speech_stopped / committed with
 * one item id, the committed audio from the padded start, a response only with create_response).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FakeServerVad } from '../fake-openai/realtime-vad.js';
import { type FakeOpenAI, startFakeOpenAI } from '../fake-openai/server.js';

const RATE = 24_000;
const silence = (ms: number) => new Int16Array((RATE * ms) / 1000);
function tone(ms: number): Int16Array {
  const pcm = new Int16Array((RATE * ms) / 1000);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(6000 * Math.sin((2 * Math.PI * 220 * i) / RATE));
  return pcm;
}
const join = (...parts: Int16Array[]) => {
  const pcm = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) (pcm.set(part, at), (at += part.length));
  return pcm;
};

describe('FakeServerVad', () => {
  it('starts at the first loud frame less the prefix padding and stops after the silence duration', () => {
    const vad = new FakeServerVad({ prefixPaddingMs: 300, silenceDurationMs: 500 });
    const pcm = join(silence(1000), tone(800), silence(1000));
    const events = [];
    for (let at = 0; at < pcm.length; at += 2400) events.push(...vad.push(pcm.subarray(at, at + 2400)));
    expect(events).toEqual([
      { type: 'speech_started', audioStartMs: 700 },
      { type: 'speech_stopped', audioEndMs: 2300 },
    ]);
  });

  it('keeps talking through a pause shorter than the silence duration, and ignores a click', () => {
    const vad = new FakeServerVad({ prefixPaddingMs: 0, silenceDurationMs: 500 });
    const events = vad.push(join(tone(20), silence(600), tone(400), silence(300), tone(400), silence(600)));
    expect(events).toEqual([
      { type: 'speech_started', audioStartMs: 620 },
      { type: 'speech_stopped', audioEndMs: 2220 },
    ]);
  });
});

let fake: FakeOpenAI;
beforeAll(async () => {
  fake = await startFakeOpenAI({ apiKey: 'k', reply: () => 'Short answer.', transcript: 'a question' });
});
afterAll(async () => {
  await fake?.close();
});

async function session(turnDetection: object) {
  const socket = new WebSocket(`${fake.baseURL.replace('http:', 'ws:')}/realtime?model=gpt-realtime`, { headers: { Authorization: 'Bearer k' } });
  const events: Array<{ type: string; [key: string]: unknown }> = [];
  socket.on('message', (data) => events.push(JSON.parse(data.toString())));
  await new Promise((resolve) => socket.once('open', resolve));
  const send = (event: object) => socket.send(JSON.stringify(event));
  send({ type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: turnDetection } } } });
  const pcm = join(silence(500), tone(600), silence(900));
  for (let at = 0; at < pcm.length; at += 2400) {
    send({ type: 'input_audio_buffer.append', audio: Buffer.from(pcm.buffer, pcm.byteOffset + at * 2, 4800).toString('base64') });
  }
  return { socket, events, record: () => fake.realtimeSessions.at(-1)! };
}

describe('fake Realtime conversation: server_vad', () => {
  it('detects the speech, commits it as one item and does not answer when create_response is off', async () => {
    const { socket, events, record } = await session({ type: 'server_vad', prefix_padding_ms: 300, silence_duration_ms: 500, create_response: false, interrupt_response: false });
    await expect.poll(() => events.some((event) => event.type === 'input_audio_buffer.committed'), { timeout: 5000 }).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const updated = events.find((event) => event.type === 'session.updated') as unknown as { session: { audio: { input: { turn_detection: Record<string, unknown> } } } };
    expect(updated.session.audio.input.turn_detection).toMatchObject({ type: 'server_vad', create_response: false, silence_duration_ms: 500 });
    const started = events.find((event) => event.type === 'input_audio_buffer.speech_started')!;
    const stopped = events.find((event) => event.type === 'input_audio_buffer.speech_stopped')!;
    const committed = events.find((event) => event.type === 'input_audio_buffer.committed')!;
    expect(started).toMatchObject({ audio_start_ms: 200 });
    expect(stopped).toMatchObject({ audio_end_ms: 1600 });
    expect(stopped.item_id).toBe(started.item_id);
    expect(committed.item_id).toBe(started.item_id);
    expect(events.map((event) => event.type).indexOf('input_audio_buffer.speech_stopped')).toBeLessThan(events.map((event) => event.type).indexOf('input_audio_buffer.committed'));
    expect(record().commits).toHaveLength(1);
    expect(record().commits[0]).toMatchObject({ byServer: true, itemId: committed.item_id, audioMs: 1400 });
    expect(events.some((event) => event.type === 'response.created')).toBe(false);
    socket.close();
  });

  it('answers by itself with create_response (the API default)', async () => {
    const { socket, events } = await session({ type: 'server_vad' });
    await expect.poll(() => events.some((event) => event.type === 'response.done'), { timeout: 10_000 }).toBe(true);
    expect(events.find((event) => event.type === 'input_audio_buffer.speech_started')).toMatchObject({ audio_start_ms: 200 });
    socket.close();
  });
});
