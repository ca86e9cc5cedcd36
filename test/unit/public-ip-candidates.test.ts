import { describe, expect, it } from 'vitest';
import { MediaPeer } from '../../server/media/peer.js';
import { announcePublicIp } from '../../server/media/public-ip-candidates.js';
import { ClientPeer } from '../../scripts/lib/client-peer.js';

const candidates = (sdp: string) => sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'));

describe('announcePublicIp', () => {
  it('adds a twin of each IPv4 host candidate with the public address on the same port', () => {
    const sdp = ['v=0', 'a=candidate:abc 1 udp 2130706431 10.0.0.5 40001 typ host', 'a=end-of-candidates', ''].join('\r\n');
    expect(candidates(announcePublicIp(sdp, '203.0.113.7'))).toEqual([
      'a=candidate:abc 1 udp 2130706431 10.0.0.5 40001 typ host',
      'a=candidate:abcpub 1 udp 2130706430 203.0.113.7 40001 typ host',
    ]);
  });

  it('leaves a candidate that already has the public address alone', () => {
    const sdp = 'a=candidate:abc 1 udp 2130706431 203.0.113.7 40001 typ host';
    expect(announcePublicIp(sdp, '203.0.113.7')).toBe(sdp);
  });

  it('a real werift answer announces the public IP on its own media ports, inside ICE_PORT_RANGE', async () => {
    const server = new MediaPeer({ onMicRtp: () => undefined, onVideoRtp: () => undefined }, { portRange: [47100, 47199], publicIp: '203.0.113.7' });
    const client = new ClientPeer();
    try {
      const answer = await server.answer(await client.offer());
      const lines = candidates(answer);
      const announced = lines.filter((l) => l.includes(' 203.0.113.7 '));
      expect(announced.length).toBeGreaterThan(0);
      for (const line of lines) {
        const port = Number(line.split(' ')[5]);
        expect(port).toBeGreaterThanOrEqual(47100);
        expect(port).toBeLessThanOrEqual(47199);
      }
      const privatePorts = lines.filter((l) => !l.includes(' 203.0.113.7 ')).map((l) => l.split(' ')[5]);
      for (const line of announced) expect(privatePorts).toContain(line.split(' ')[5]);
    } finally {
      await client.close();
      await server.close();
    }
  }, 20_000);
});
