/**
 * The OpenAI engine's warm-up against the fake OpenAI server (real HTTP, real speech): a turn's
 * requests ride the connections the warm-up opened, the warm-up is an unauthenticated GET that
 * calls no model, and a dead API costs nothing. Each test uses a fresh fake (a new port), so no
 * connection is left over from another test.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings } from '../../server/config.js';
import type { MicSegment } from '../../server/assistant/engine.js';
import type { OpenAITranscriber } from '../../server/assistant/openai/transcriber.js';
import { createEngine } from '../../server/engines.js';
import { ConnectionWarmer } from '../../server/assistant/openai/connection-warmer.js';
import { rehearseCalls } from '../../server/assistant/openai/rehearsal.js';
import { type FakeOpenAI, startFakeOpenAI } from '../fake-openai/server.js';

const run = promisify(execFile);
const API_KEY = 'sk-test-warm';
const REPLY = 'It looks blue to me. The light is even across the frame.';

let segment: MicSegment;
let fake: FakeOpenAI | undefined;
const never = new AbortController().signal;

/** The three OpenAI stages at `baseURL`, as the server composes them. */
function engineFor(baseURL: string) {
  const { engine } = createEngine(parseSettings({ OPENAI_API_KEY: API_KEY, OPENAI_BASE_URL: baseURL }));
  return {
    prewarm: () => engine.prewarm(),
    // The stages share one warmer per base URL: the transcriber's is the chat's and the speaker's.
    prewarmSettled: () => (engine.transcriber as OpenAITranscriber).api.prewarmSettled(),
    transcribe: (segment: MicSegment, signal: AbortSignal) => engine.transcriber.transcribe(segment, signal),
    chat: engine.chatModel.chat.bind(engine.chatModel),
    speak: engine.speaker.speak.bind(engine.speaker),
  };
}
const modelCalls = (f: FakeOpenAI) => f.requests.filter((r) => r.endpoint !== 'unknown');

beforeAll(async () => {
  const { stdout } = await run('sh', ['-c', 'flite -voice slt -t "what colour is this" -o /dev/stdout | ffmpeg -v error -i pipe:0 -f s16le -ac 1 -ar 16000 pipe:1'], {
    encoding: 'buffer',
    maxBuffer: 1 << 24,
  });
  const pcm = new Int16Array(stdout.buffer.slice(stdout.byteOffset, stdout.byteOffset + stdout.byteLength));
  const durationMs = (pcm.length / 16000) * 1000;
  segment = { pcm, sampleRate: 16000, durationMs, speechMs: durationMs };
});
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

describe('OpenAI stages: prewarm', () => {
  it('opens two connections that the transcription, the chat stream and a speech request beside it then use', async () => {
    fake = await startFakeOpenAI({ apiKey: API_KEY, transcript: 'what colour is this', reply: () => REPLY });
    fake.setBehaviour('chat', { chunkGapMs: 15 }); // the chat stream is still open when speech starts
    const engine = engineFor(fake.baseURL);
    engine.prewarm();
    await engine.prewarmSettled();

    const warmUps = [...fake.requests];
    expect(warmUps).toHaveLength(2);
    for (const request of warmUps) {
      expect(request).toMatchObject({ method: 'GET', endpoint: 'unknown', path: '/v1' });
      expect(request.headers.authorization).toBeUndefined();
    }
    const warmPorts = new Set(warmUps.map((r) => r.remotePort));
    expect(warmPorts.size).toBe(2);

    expect(await engine.transcribe(segment, never)).toBe('what colour is this');
    let speech: Promise<number> | undefined;
    for await (const delta of engine.chat([], { role: 'user', text: 'what colour is this' }, never)) {
      void delta;
      speech ??= (async () => {
        let bytes = 0;
        for await (const chunk of engine.speak('It looks blue to me.', never)) bytes += chunk.length;
        return bytes;
      })();
    }
    expect(await speech).toBeGreaterThan(1000);

    const calls = modelCalls(fake);
    expect(calls.map((r) => r.endpoint).sort()).toEqual(['chat', 'speech', 'transcriptions']);
    // The speech request overlapped the chat stream, so it needed the second warm connection.
    const [chat, spoken] = [calls.find((r) => r.endpoint === 'chat')!, calls.find((r) => r.endpoint === 'speech')!];
    expect(spoken.receivedAt).toBeLessThan(chat.lastByteAt!);
    for (const call of calls) expect(warmPorts).toContain(call.remotePort);
  });

  it('warms at most once per interval however often it is asked, and calls no model', async () => {
    fake = await startFakeOpenAI({ apiKey: API_KEY });
    const engine = engineFor(fake.baseURL);
    for (let i = 0; i < 5; i++) engine.prewarm();
    await engine.prewarmSettled();
    engine.prewarm();
    await engine.prewarmSettled();
    expect(fake.requests.map((r) => r.method)).toEqual(['GET', 'GET']);
    expect(modelCalls(fake)).toHaveLength(0);
  });

  it('is harmless when nothing listens at the base URL', async () => {
    const closed = await startFakeOpenAI();
    const baseURL = closed.baseURL;
    await closed.close();
    const engine = engineFor(baseURL);
    expect(() => engine.prewarm()).not.toThrow();
    await engine.prewarmSettled();
  });
});

describe('ConnectionWarmer', () => {
  it('gives up on an API that accepts the connection but never answers, without throwing', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void sockets.push(socket)); // accepts, never writes a byte
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const warmer = new ConnectionWarmer(`http://127.0.0.1:${port}/v1`, (input, init) => globalThis.fetch(input, init), {
        connections: 2,
        minIntervalMs: 0,
        timeoutMs: 150,
      });
      const startedAt = performance.now();
      warmer.warm();
      await warmer.settled();
      const took = performance.now() - startedAt;
      expect(took).toBeGreaterThanOrEqual(140);
      expect(took).toBeLessThan(2000);
    } finally {
      await new Promise((resolve) => {
        silent.close(resolve);
        for (const socket of sockets) socket.destroy();
      });
    }
  });
});

describe('rehearseCalls', () => {
  it('runs the transcription, chat and speech calls through the package against a loopback server only', async () => {
    const realFetch = globalThis.fetch;
    const urls: URL[] = [];
    globalThis.fetch = (input, init) => {
      urls.push(new URL(input instanceof Request ? input.url : String(input)));
      return realFetch(input, init);
    };
    try {
      expect(await rehearseCalls()).toBe(true);
    } finally {
      globalThis.fetch = realFetch;
    }
    // The package also fetches a `data:` URL once per fetch function, to check FormData support.
    const requests = urls.filter((url) => url.protocol !== 'data:');
    expect(requests.map((url) => url.pathname)).toEqual(['/v1/audio/transcriptions', '/v1/chat/completions', '/v1/audio/speech']);
    for (const url of requests) expect(url.hostname).toBe('127.0.0.1');
  });
});
