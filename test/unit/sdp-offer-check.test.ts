import { describe, expect, it } from 'vitest';
import { checkSdpOffer, SDP_LIMITS, SdpOfferProblem } from '../../server/media/sdp-offer-check.js';

const FINGERPRINT = 'sha-256 D4:D4:A9:34:D3:C7:49:7D:8F:91:2F:76:27:27:21:EB:8B:8B:BE:39:2D:CC:20:87:C2:6F:86:69:68:E6:72:42';
const section = (kind: string, mid: string, extra: string[] = []) => [
  `m=${kind} 9 UDP/TLS/RTP/SAVPF ${kind === 'audio' ? 111 : 96}`,
  'c=IN IP4 0.0.0.0',
  `a=candidate:1 1 udp 2116026367 192.0.2.2 5455${mid} typ host generation 0`,
  'a=ice-ufrag:768c',
  'a=ice-pwd:144bddca290c07d43edb39',
  `a=fingerprint:${FINGERPRINT}`,
  'a=setup:actpass',
  `a=mid:${mid}`,
  'a=rtcp-mux',
  ...extra,
];
const offer = (sections = [section('audio', '0'), section('video', '1')], bundle = 'a=group:BUNDLE 0 1') =>
  ['v=0', 'o=- 1 0 IN IP4 0.0.0.0', 's=-', 't=0 0', bundle, ...sections.flat()].join('\r\n') + '\r\n';

function problem(sdp: string): string {
  try {
    checkSdpOffer(sdp);
  } catch (err) {
    expect(err).toBeInstanceOf(SdpOfferProblem);
    return (err as Error).message;
  }
  throw new Error('expected the offer to be refused');
}

const without = (sdp: string, prefix: string) => sdp.split('\r\n').filter((l) => !l.startsWith(prefix)).join('\r\n');

describe('checkSdpOffer', () => {
  it('accepts a well-formed bundled offer', () => {
    expect(() => checkSdpOffer(offer())).not.toThrow();
  });

  it('takes credentials and fingerprint from the session level too', () => {
    const sdp = offer().replace('t=0 0', `t=0 0\r\na=fingerprint:${FINGERPRINT.replace('D4:D4', 'AA:D4')}\r\na=ice-ufrag:abcd\r\na=ice-pwd:aaaaaaaaaaaaaaaaaaaaaaaa`);
    expect(() => checkSdpOffer(without(without(without(sdp, 'a=fingerprint:sha-256 D4'), 'a=ice-ufrag:768c'), 'a=ice-pwd:144'))).not.toThrow();
  });

  it('refuses each missing or malformed part in words', () => {
    expect(problem('hello')).toMatch(/not an SDP document/);
    expect(problem(without(offer(), 'a=fingerprint'))).toMatch(/no DTLS fingerprint/);
    expect(problem(offer().replace(/a=fingerprint:sha-256 D4/g, 'a=fingerprint:sha-256 Z4'))).toMatch(/malformed DTLS fingerprint/);
    expect(problem(without(offer(), 'a=ice-pwd'))).toMatch(/no ICE credentials/);
    expect(problem(offer().replace(/a=ice-ufrag:768c/g, 'a=ice-ufrag:7'))).toMatch(/ICE username fragment/);
    expect(problem(offer().replace(/a=ice-pwd:144bddca290c07d43edb39/g, 'a=ice-pwd:short'))).toMatch(/ICE password/);
    expect(problem(offer(undefined, 'a=group:BUNDLE 0'))).toMatch(/does not bundle/);
    expect(problem(offer([section('video', '0')], 'a=group:BUNDLE 0'))).toMatch(/no audio/);
    expect(problem(without(offer(), 'a=mid'))).toMatch(/no a=mid/);
    expect(problem(offer([section('audio', '0'), section('video', '0')], 'a=group:BUNDLE 0'))).toMatch(/repeats a media id/);
    expect(problem(offer().replace('typ host', 'typ nonsense'))).toMatch(/malformed ICE candidate/);
    expect(problem(offer().replace('m=video 9 UDP/TLS/RTP/SAVPF', 'm=video 9 RTP/AVP'))).toMatch(/not DTLS-SRTP/);
    expect(problem(offer().replace('s=-', `s=${'x'.repeat(SDP_LIMITS.maxLineLength + 1)}`))).toMatch(/malformed line/);
  });

  it('bounds media sections and candidates', () => {
    const many = Array.from({ length: SDP_LIMITS.maxMediaSections + 1 }, (_, i) => section(i === 0 ? 'audio' : 'video', String(i)));
    expect(problem(offer(many, `a=group:BUNDLE ${many.map((_, i) => i).join(' ')}`))).toMatch(/more than 4 media sections/);
    const candidates = Array.from({ length: SDP_LIMITS.maxCandidates }, (_, i) => `a=candidate:${i} 1 udp 1 10.0.0.1 ${1000 + i} typ host`);
    expect(problem(offer([section('audio', '0', candidates), section('video', '1')]))).toMatch(/more than 40 ICE candidates/);
  });
});
