import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OfferReply } from '../../server/protocol.js';
import { ClientPeer } from '../../scripts/lib/client-peer.js';
import { startServer, type RunningServer } from '../e2e/harness.js';
import { connect, pageKey } from './rig.js';

describe('a text flood from one caller', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server?.stop());

  it('is told it is limited, and a second caller’s audio clock keeps 50 packets/s', async () => {
    const calm = await connect(server.url);
    await calm.timeout(5000).emitWithAck('hello', { sessionId: pageKey() });
    const peer = new ClientPeer();
    const reply = (await calm.timeout(20_000).emitWithAck('rtc:offer', { type: 'offer', sdp: await peer.offer() })) as OfferReply;
    await peer.accept(reply.answer!.sdp);
    await sleep(1500);

    const flooder = await connect(server.url);
    await flooder.timeout(5000).emitWithAck('hello', { sessionId: pageKey() });
    const fp = new ClientPeer();
    const fr = (await flooder.timeout(20_000).emitWithAck('rtc:offer', { type: 'offer', sdp: await fp.offer() })) as OfferReply;
    await fp.accept(fr.answer!.sdp);
    const errors: string[] = [];
    flooder.on('session:error', (e: { kind: string; message: string }) => errors.push(`${e.kind}: ${e.message}`));

    const from = performance.now();
    let sent = 0;
    while (performance.now() - from < 5000) {
      for (let i = 0; i < 20; i++, sent++) flooder.emit('text', { text: `flood question ${sent}` });
      await sleep(20);
    }
    await sleep(500);
    const seconds = (performance.now() - from) / 1000;
    const packets = peer.received.filter((r) => r.at >= from);
    const gaps = packets.slice(1).map((r, i) => r.at - packets[i]!.at);
    const late = gaps.filter((g) => g > 60).length / Math.max(1, gaps.length);
    const rate = packets.length / seconds;
    console.log(`flood: ${sent} texts in 5 s; limited notices ${errors.length}; calm caller ${rate.toFixed(1)} packets/s, ${(late * 100).toFixed(1)} % gaps > 60 ms, max gap ${Math.max(...gaps).toFixed(0)} ms`);
    expect(errors.some((e) => e.startsWith('rate_limit'))).toBe(true);
    // Margins for a loaded 2-core CI machine where this process both floods and receives; before the limits: 28 packets/s, 30 % late.
    expect(rate).toBeGreaterThan(35);
    expect(late).toBeLessThan(0.15);
    for (const s of [calm, flooder]) s.close();
    await Promise.all([peer.close(), fp.close()]);
  }, 60_000);
});
