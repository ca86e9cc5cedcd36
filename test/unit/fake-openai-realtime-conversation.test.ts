/**
 * The fake's speech-to-speech session refuses what the Realtime API refuses, with `error` events
 * of the same shape: a model it does not have, a turn detection type it does not know, a bad image, a
 * truncate past the audio sent, deleting an unknown item, cancelling when nothing is generated.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type FakeOpenAI, startFakeOpenAI } from '../fake-openai/server.js';

let fake: FakeOpenAI;

beforeAll(async () => {
  fake = await startFakeOpenAI({ apiKey: 'k', reply: () => 'Short answer.', models: ['gpt-realtime'] });
});
afterAll(async () => {
  await fake?.close();
});

/** Opens a session; `send` an event and get the next server event of one of `types`. */
async function open(model = 'gpt-realtime') {
  const socket = new WebSocket(`${fake.baseURL.replace('http:', 'ws:')}/realtime?model=${model}`, { headers: { Authorization: 'Bearer k' } });
  const events: Array<{ type: string; [key: string]: unknown }> = [];
  const waiters: Array<() => void> = [];
  socket.on('message', (data) => {
    events.push(JSON.parse(data.toString()));
    for (const wake of waiters.splice(0)) wake();
  });
  const next = async (types: string[]) => {
    for (;;) {
      const index = events.findIndex((event) => types.includes(event.type));
      if (index >= 0) return events.splice(index, 1)[0]!;
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  const send = (event: object) => socket.send(JSON.stringify(event));
  await next(['session.created', 'error']).then((first) => events.unshift(first));
  return { socket, next, send };
}

describe('fake Realtime conversation: refusals', () => {
  it('answers an unknown model with model_not_found and closes', async () => {
    const { next, socket } = await open('gpt-nope');
    expect(await next(['error'])).toMatchObject({ error: { code: 'model_not_found' } });
    await new Promise((resolve) => socket.once('close', resolve));
  });

  it('refuses an unknown turn detection type, a non-image data URL, a truncate past the audio sent, an unknown delete and an idle cancel', async () => {
    const { send, next, socket } = await open();
    await next(['session.created']);
    send({ type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: { type: 'magic_vad' } } } } });
    expect(await next(['error', 'session.updated'])).toMatchObject({ type: 'error', error: { code: 'invalid_value' } });
    send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_image', image_url: 'data:text/plain;base64,aGk=' }] } });
    expect(await next(['error', 'conversation.item.added'])).toMatchObject({ type: 'error', error: { code: 'invalid_value' } });
    send({ type: 'conversation.item.delete', item_id: 'item_nope' });
    expect(await next(['error', 'conversation.item.deleted'])).toMatchObject({ type: 'error', error: { code: 'item_delete_invalid_item_id' } });
    send({ type: 'response.cancel' });
    expect(await next(['error'])).toMatchObject({ error: { code: 'response_cancel_not_active' } });

    send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] } });
    send({ type: 'response.create' });
    const done = (await next(['response.done'])) as unknown as { response: { status: string; output: Array<{ id: string }> } };
    expect(done.response.status).toBe('completed');
    const item = done.response.output[0]!.id;
    const sentMs = fake.realtimeSessions.at(-1)!.responses[0]!.audioSentMs;
    send({ type: 'conversation.item.truncate', item_id: item, content_index: 0, audio_end_ms: Math.ceil(sentMs) + 100 });
    expect(await next(['error', 'conversation.item.truncated'])).toMatchObject({ type: 'error', error: { message: expect.stringMatching(/already shorter/) } });
    send({ type: 'conversation.item.truncate', item_id: item, content_index: 0, audio_end_ms: 200 });
    expect(await next(['error', 'conversation.item.truncated'])).toMatchObject({ type: 'conversation.item.truncated', audio_end_ms: 200 });
    socket.close();
  });
});
