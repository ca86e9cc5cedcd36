import { createHash, randomUUID } from 'node:crypto';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { io, type Socket } from 'socket.io-client';
import type { RtpPacket } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HelloReply, OfferReply } from '../../server/protocol.js';
import { ClientPeer } from '../../scripts/lib/client-peer.js';
import { startServer, type RunningServer } from '../e2e/harness.js';

/** The real server (child process, offline engine) driven the way the page drives it. */

interface Received {
  event: string;
  payload: Record<string, unknown>;
  at: number;
}

class Client {
  readonly events: Received[] = [];
  private constructor(readonly socket: Socket) {
    socket.onAny((event: string, payload: unknown) => {
      this.events.push({ event, payload: (payload ?? {}) as Record<string, unknown>, at: performance.now() });
    });
  }

  static async connect(url: string): Promise<Client> {
    const socket = io(url, { transports: ['websocket'], rejectUnauthorized: false, reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    return new Client(socket);
  }

  /** Hello with the strong conversation key of `label` (the same label, the same key). */
  hello(label: string): Promise<HelloReply> {
    return this.socket.timeout(5000).emitWithAck('hello', { sessionId: keyFor(label) }) as Promise<HelloReply>;
  }

  offer(payload: unknown): Promise<OfferReply> {
    return this.socket.timeout(10_000).emitWithAck('rtc:offer', payload) as Promise<OfferReply>;
  }

  /** The next `event` received from now on (or already received after `since`). */
  async next(event: string, since: number, timeoutMs = 5000): Promise<Received> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.events.find((e) => e.event === event && e.at >= since);
      if (found) return found;
      if (performance.now() > deadline) throw new Error(`no "${event}" within ${timeoutMs} ms; got ${JSON.stringify(this.events.slice(-5))}`);
      await sleep(20);
    }
  }

  /** Emits, then returns the session:error it caused. */
  async errorFor(event: string, ...args: unknown[]): Promise<string> {
    const since = performance.now();
    this.socket.emit(event, ...args);
    return String((await this.next('session:error', since)).payload.message);
  }

  close(): void {
    this.socket.disconnect();
  }
}

/** A strong conversation key made from a readable label (SHA-256, base64url: 43 characters). */
function keyFor(label: string): string {
  return createHash('sha256').update(label).digest('base64url');
}

/** A real werift call: hello → rtc:offer → the answer accepted → connected. */
async function call(url: string, sessionId: string): Promise<{ client: Client; peer: ClientPeer }> {
  const client = await Client.connect(url);
  await client.hello(sessionId);
  const peer = new ClientPeer();
  const reply = await client.offer({ type: 'offer', sdp: await peer.offer() });
  expect(reply.error).toBeUndefined();
  await peer.accept(reply.answer!.sdp);
  return { client, peer };
}

function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { rejectUnauthorized: false, agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

async function metric(url: string, name: string): Promise<number> {
  const line = (await get(`${url}metrics`)).body.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`metric ${name} missing`);
  return Number(line.slice(name.length + 1));
}

/** Polls until `read` gives `want` (or the time is up), and returns the last value read. */
async function settle<T>(read: () => Promise<T>, want: T, timeoutMs = 3000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let value = await read();
  while (value !== want && performance.now() < deadline) {
    await sleep(100);
    value = await read();
  }
  return value;
}

const isSilence = (rtp: RtpPacket) => rtp.payload.equals(Buffer.from([0xf8, 0xff, 0xfe]));
const HEALTHY_ID = 'healthy-session-0001';
const QUESTION = 'what do you see on my desk';

describe('signaling against the real server', () => {
  let server: RunningServer;
  let healthy: { client: Client; peer: ClientPeer };
  let disturbedFrom = 0;
  const opened: Client[] = [];
  const open = async () => {
    const client = await Client.connect(server.url);
    opened.push(client);
    return client;
  };

  beforeAll(async () => {
    server = await startServer({ ASSISTANT_ENGINE: 'offline', LOG_LEVEL: 'warn' });
    healthy = await call(server.url, HEALTHY_ID);
  }, 45_000);

  afterAll(async () => {
    for (const client of opened) client.close();
    healthy?.client.close();
    await healthy?.peer.close();
    await server?.stop();
  });

  it('serves /healthz as 200 JSON and counts the connected peer in /metrics', async () => {
    const health = await get(`${server.url}healthz`);
    expect(health.status).toBe(200);
    expect(health.type).toMatch(/application\/json/);
    expect(JSON.parse(health.body)).toMatchObject({ ok: true, engine: 'offline' });
    expect(await metric(server.url, 'assistant_active_sessions')).toBe(1);
  });

  it('a connected peer receives the silence stream at 50 packets/s', async () => {
    await sleep(1200);
    const now = performance.now();
    const lastSecond = healthy.peer.received.filter((r) => r.at > now - 1000);
    expect(lastSecond.length).toBeGreaterThanOrEqual(45);
    expect(lastSecond.length).toBeLessThanOrEqual(55);
    expect(lastSecond.every((r) => isSilence(r.rtp))).toBe(true);
    disturbedFrom = performance.now();
  });

  let refusedOffers: Client | undefined;

  it('answers malformed offers with a clear error in the ack, and the socket stays usable', async () => {
    const client = await open();
    refusedOffers = client;
    expect((await client.hello('malformed-offers-01')).history).toEqual([]);
    const bad: unknown[] = [
      'v=0 just a string',
      null,
      42,
      { type: 'offer' },
      { type: 'answer', sdp: 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n' },
      { type: 'offer', sdp: `v=0${'x'.repeat(500_000)}` },
      { type: 'offer', sdp: 'this is not an SDP document at all' },
      { type: 'offer', sdp: 'v=0\r\nthis is not SDP either\r\n' },
    ];
    for (const payload of bad) {
      const reply = await client.offer(payload);
      expect(reply.answer, JSON.stringify(payload)?.slice(0, 60)).toBeUndefined();
      expect(reply.error).toMatch(/offer|SDP/i);
      expect(client.socket.connected).toBe(true);
    }
    expect((await client.hello('malformed-offers-01')).engine).toBe('offline'); // still answering
  });

  it('keeps no session for a socket whose offer failed', async () => {
    // The only other socket so far sent nothing but offers that were refused.
    try {
      expect.soft(await settle(() => metric(server.url, 'assistant_active_sessions'), 1)).toBe(1);
      expect.soft(JSON.parse((await get(`${server.url}healthz`)).body).sessions).toBe(1);
      // With no call, talking is refused as before any offer.
      const since = performance.now();
      refusedOffers!.socket.emit('talk:start');
      const message = await refusedOffers!
        .next('session:error', since, 1500)
        .then((error) => String(error.payload.message), (err: Error) => err.message);
      expect.soft(message).toMatch(/"talk:start" needs a call/);
    } finally {
      refusedOffers?.close(); // so a failure here does not shift the counts the later tests check
      await settle(() => metric(server.url, 'assistant_active_sessions'), 1);
    }
  });

  it('names an unknown event in a session:error', async () => {
    const client = await open();
    expect(await client.errorFor('launch:rockets', { now: true })).toContain('launch:rockets');
    expect(client.socket.connected).toBe(true);
  });

  it('says talk:start, talk:stop, cancel and text need a call first', async () => {
    const client = await open();
    await client.hello('no-call-yet-0001');
    for (const event of ['talk:start', 'talk:stop', 'cancel']) {
      const message = await client.errorFor(event);
      expect(message).toContain(event);
      expect(message).toMatch(/rtc:offer|call/);
    }
    expect(await client.errorFor('text', { text: 'hello?' })).toMatch(/"text".*(rtc:offer|call)/);
  });

  it('answers malformed hello, text and source payloads with a clear error naming the event', async () => {
    const client = await open();
    const cases: [string, unknown][] = [
      ['hello', { sessionId: 'x'.repeat(300) }],
      ['hello', { id: keyFor('no sessionId field') }],
      ['hello', 42],
      ['text', { text: '   ' }],
      ['text', { text: 123 }],
      ['text', { text: 'x'.repeat(5000) }],
      ['text', 'bare string'],
      ['source', { kind: 'webcam' }],
      ['source', undefined],
    ];
    for (const [event, payload] of cases) {
      expect(await client.errorFor(event, payload)).toMatch(new RegExp(`malformed "${event}"`));
    }
    expect((await client.hello('after-bad-payloads')).history).toEqual([]);
  });

  it('refuses weak conversation keys (under 128 bits) with a clear error, and answers a strong one after', async () => {
    const client = await open();
    const weak = ['short', '../../etc/passwd', 'a'.repeat(43), 'ab'.repeat(22), '0123456789abcdefghijklmnopqrstuvwxyzABCDEFG', randomUUID()];
    for (const sessionId of weak) {
      expect(await client.errorFor('hello', { sessionId })).toMatch(/conversation key is too weak.*reload/);
    }
    expect((await client.hello('after-weak-keys')).history).toEqual([]);
  });

  it('none of that disturbed the healthy call: steady silence at 50 packets/s throughout', async () => {
    const waitMs = 1000 - (performance.now() - disturbedFrom);
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs)); // a window long enough to judge
    const packets = healthy.peer.received.filter((r) => r.at >= disturbedFrom);
    const seconds = (performance.now() - disturbedFrom) / 1000;
    expect(seconds).toBeGreaterThan(0.5);
    expect(packets.length / seconds).toBeGreaterThan(45);
    expect(packets.length / seconds).toBeLessThan(55);
    const gaps = packets.slice(1).map((r, i) => r.at - packets[i]!.at);
    expect(Math.max(...gaps)).toBeLessThan(150);
    expect(packets.every((r) => isSilence(r.rtp))).toBe(true);
  });

  it('answers a typed question on the healthy call with turn:user, turn:deltas, turn:done and speech', async () => {
    const { client, peer } = healthy;
    const since = performance.now();
    client.socket.emit('text', { text: QUESTION });
    const user = await client.next('turn:user', since);
    expect(user.payload.text).toBe(QUESTION);
    const done = await client.next('turn:done', since, 40_000);
    const deltas = client.events.filter((e) => e.event === 'turn:delta' && e.at >= since);
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.map((d) => d.payload.text).join('')).toBe(done.payload.text);
    expect(String(done.payload.text)).toContain(QUESTION);
    expect(done.payload.cancelled).toBeUndefined();

    const during = peer.received.filter((r) => r.at >= since && r.at <= done.at);
    expect(during.filter((r) => !isSilence(r.rtp)).length).toBeGreaterThan(50); // over a second of speech
    const seconds = (done.at - since) / 1000;
    expect(during.length / seconds).toBeGreaterThan(45);
    expect(during.length / seconds).toBeLessThan(55);
  }, 45_000);

  it('keeps each page session its own history, and restores it on reconnect with the same id', async () => {
    const stranger = await open();
    expect((await stranger.hello('another-page-0002')).history).toEqual([]);
    const refreshed = await open();
    const restored = (await refreshed.hello(HEALTHY_ID)).history;
    expect(restored.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(restored[0]!.text).toBe(QUESTION);
    expect(restored[1]!.text).toContain(QUESTION);
  });

  it('counts a second peer while it is connected and frees everything when it leaves', async () => {
    const fdsBefore = await metric(server.url, 'process_open_fds');
    const second = await call(server.url, 'second-peer-0003');
    try {
      expect(await metric(server.url, 'assistant_active_sessions')).toBe(2);
      await sleep(500);
      expect(second.peer.received.length).toBeGreaterThan(15);
    } finally {
      second.client.close();
      await second.peer.close();
    }
    expect(await settle(() => metric(server.url, 'assistant_active_sessions'), 1)).toBe(1);
    expect(JSON.parse((await get(`${server.url}healthz`)).body).sessions).toBe(1);
    expect(await settle(() => metric(server.url, 'process_open_fds'), fdsBefore)).toBeLessThanOrEqual(fdsBefore);
  }, 30_000);

  it('frees the session when the socket leaves right after sending a second offer', async () => {
    const racing = await call(server.url, 'racing-offer-0004');
    expect(await metric(server.url, 'assistant_active_sessions')).toBe(2);
    const another = new ClientPeer();
    // The re-offer and the leave arrive together; a re-offer handled after the leave must not revive the call.
    racing.client.socket.emit('rtc:offer', { type: 'offer', sdp: await another.offer() });
    racing.client.close();
    await Promise.all([racing.peer.close(), another.close()]);
    expect(await settle(() => metric(server.url, 'assistant_active_sessions'), 1)).toBe(1);
    expect(JSON.parse((await get(`${server.url}healthz`)).body).sessions).toBe(1);
  }, 30_000);

  it('drops back to no sessions when the last peer disconnects, and exits cleanly on SIGTERM', async () => {
    healthy.client.close();
    await healthy.peer.close();
    expect(await settle(() => metric(server.url, 'assistant_active_sessions'), 0)).toBe(0);
    await server.stop(); // throws unless the process exits within 5 s of SIGTERM
    await expect(get(`${server.url}healthz`)).rejects.toThrow();
  }, 20_000);
});
