import { describe, expect, it } from 'vitest';
import { deferMdnsCandidates, mdnsHostsOf, replaceMdnsHosts } from '../../server/media/mdns-candidates.js';

const OFFER = [
  'v=0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'a=candidate:0 1 UDP 2122187007 643a053b-15d2-4230-ada3-7975fdfa6123.local 44319 typ host',
  'a=candidate:1 1 UDP 2122252543 8f7dcc88-6288-44da-8b6a-1d3373934e0e.local 52179 typ host',
  'a=candidate:2 1 UDP 1686052607 203.0.113.7 40000 typ srflx raddr 0.0.0.0 rport 0',
  'a=mid:0',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'a=mid:1',
  '',
].join('\r\n');

describe('mdns candidates', () => {
  it('finds the .local names of candidate lines', () => {
    expect(mdnsHostsOf(OFFER)).toEqual(['643a053b-15d2-4230-ada3-7975fdfa6123.local', '8f7dcc88-6288-44da-8b6a-1d3373934e0e.local']);
  });

  it('replaces resolved names and drops unresolved ones', () => {
    const out = replaceMdnsHosts(OFFER, new Map([['643a053b-15d2-4230-ada3-7975fdfa6123.local', '192.0.2.2']]));
    expect(out).toContain('a=candidate:0 1 UDP 2122187007 192.0.2.2 44319 typ host');
    expect(out).not.toContain('8f7dcc88');
    expect(out).toContain('203.0.113.7 40000 typ srflx');
  });

  it('defers: the offer goes on without the names, resolved ones come back for addIceCandidate with their mid', async () => {
    const deferred = deferMdnsCandidates(OFFER, {
      resolver: async (hosts) => new Map([[hosts[1]!, '192.0.2.9']]),
    });
    expect(deferred.sdp).not.toContain('.local');
    expect(deferred.sdp).toContain('typ srflx');
    expect(await deferred.resolved).toEqual([{ candidate: 'candidate:1 1 UDP 2122252543 192.0.2.9 52179 typ host', sdpMid: '0' }]);
  });

  it('leaves an offer without .local names alone', async () => {
    const plain = OFFER.split('\r\n').filter((line) => !line.includes('.local')).join('\r\n');
    const deferred = deferMdnsCandidates(plain);
    expect(deferred.sdp).toBe(plain);
    expect(await deferred.resolved).toEqual([]);
  });
});
