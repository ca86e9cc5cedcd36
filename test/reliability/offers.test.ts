import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Socket } from 'socket.io-client';
import type { OfferReply } from '../../server/protocol.js';
import { ClientPeer } from '../../scripts/lib/client-peer.js';
import { startServer, type RunningServer } from '../e2e/harness.js';
import { connect, fdCounts, pageKey, rssAfterGcMb, sessionCounts, settle, udpSockets } from './rig.js';

const offer = (socket: Socket, sdp: string) =>
  socket.timeout(20_000).emitWithAck('rtc:offer', { type: 'offer', sdp }) as Promise<OfferReply>;

/** hello with a fresh page key, as a newly opened page sends it. */
async function hello(socket: Socket): Promise<void> {
  await socket.timeout(5000).emitWithAck('hello', { sessionId: pageKey() });
}

describe('offers against the real server', () => {
  let server: RunningServer;
  let sdp: string;
  let clientPeer: ClientPeer;
  let baseline: { sockets: number; udp: number };

  beforeAll(async () => {
    server = await startServer({ MAX_CALLS_PER_ADDRESS: '50' }, 30_000, ['--expose-gc']);
    clientPeer = new ClientPeer();
    sdp = await clientPeer.offer();
    baseline = { sockets: fdCounts(server.pid).sockets, udp: udpSockets(server.pid) };
  });
  afterAll(async () => {
    await clientPeer?.close();
    await server?.stop();
  });

  it('answers 5 offers sent at once one after another, and leaks no peer when the socket leaves', async () => {
    const socket = await connect(server.url);
    await hello(socket);
    const replies = await Promise.all(Array.from({ length: 5 }, () => offer(socket, sdp)));
    expect(replies.every((r) => r.answer?.sdp.startsWith('v=0'))).toBe(true);
    expect(await sessionCounts(server.url)).toEqual({ metrics: 1, healthz: 1 });
    socket.close();
    const counts = await settle(() => sessionCounts(server.url), (c) => c.metrics === 0 && c.healthz === 0);
    expect(counts).toEqual({ metrics: 0, healthz: 0 });
    const udp = await settle(() => udpSockets(server.pid), (n) => n <= baseline.udp);
    console.log(`offer race: UDP sockets ${baseline.udp} before → ${udp} after; sessions ${JSON.stringify(counts)}`);
    expect(udp).toBeLessThanOrEqual(baseline.udp);
  });

  it('refuses malformed offers in words, never werift internals', async () => {
    const socket = await connect(server.url);
    await hello(socket);
    const without = (prefix: string) => sdp.split('\r\n').filter((l) => !l.startsWith(prefix)).join('\r\n');
    const manyCandidates = sdp.replace('a=end-of-candidates', Array.from({ length: 100 }, (_, i) => `a=candidate:${i} 1 udp 1 10.0.0.${i % 250} ${2000 + i} typ host`).join('\r\n'));
    const cases: [string, RegExp][] = [
      [without('a=fingerprint'), /fingerprint/],
      [without('a=ice-ufrag'), /ICE credentials/],
      [without('a=group:BUNDLE'), /bundle/],
      [manyCandidates, /more than 40 ICE candidates/],
      ['v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n', /./],
      ['not sdp at all', /./],
    ];
    for (const [bad, reason] of cases) {
      const reply = await offer(socket, bad);
      expect(reply.answer).toBeUndefined();
      expect(reply.error).toMatch(reason);
      expect(reply.error).not.toMatch(/Cannot read|undefined|TypeError/);
    }
    socket.close();
    expect(await settle(() => sessionCounts(server.url), (c) => c.metrics === 0)).toEqual({ metrics: 0, healthz: 0 });
  });

  it('returns to its baseline after 1,000 connect/offer/disconnect cycles (sessions, sockets, RSS after GC)', async () => {
    const rssBefore = await rssAfterGcMb(server.pid);
    const cycles = 1000;
    const parallel = 4;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: parallel }, async (_, lane) => {
        for (let i = lane; i < cycles; i += parallel) {
          const socket = await connect(server.url);
          await hello(socket);
          const reply = await offer(socket, sdp);
          expect(reply.answer).toBeDefined();
          socket.close();
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const counts = await settle(() => sessionCounts(server.url), (c) => c.metrics === 0 && c.healthz === 0);
    const sockets = await settle(() => fdCounts(server.pid).sockets, (n) => n <= baseline.sockets + 2);
    const udp = await settle(() => udpSockets(server.pid), (n) => n <= baseline.udp);
    const rssAfter = await rssAfterGcMb(server.pid);
    console.log(
      `churn: ${cycles} cycles in ${seconds.toFixed(1)} s; sockets ${baseline.sockets} → ${sockets}, UDP ${baseline.udp} → ${udp}, ` +
        `RSS after GC ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MB (+${(rssAfter - rssBefore).toFixed(1)})`,
    );
    expect(counts).toEqual({ metrics: 0, healthz: 0 });
    expect(sockets).toBeLessThanOrEqual(baseline.sockets + 2);
    expect(udp).toBeLessThanOrEqual(baseline.udp);
    expect(rssAfter - rssBefore).toBeLessThan(60);
  }, 240_000);
});
