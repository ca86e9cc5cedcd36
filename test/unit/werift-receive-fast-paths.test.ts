import { afterEach, describe, expect, it } from 'vitest';
import {
  RtpPacket,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpReceiver,
  MediaStreamTrack,
  useNACK,
  usePLI,
  useREMB,
  useTWCC,
  type RTCPFB,
} from 'werift';
import { DepacketizeBase, DepacketizeCallback } from 'werift/nonstandard';
import { vp8Frames } from '../../scripts/lib/encoded-media.js';
import { packetizeVp8 } from '../../scripts/lib/vp8-packetizer.js';
import {
  fastCheckFinalPacket,
  fastCodecName,
  fastNackEnabled,
  fastTwccEnabled,
  installWeriftReceiveFastPaths,
  weriftCheckFinalPacket,
  weriftGetters,
} from '../../server/media/werift-receive-fast-paths.js';

installWeriftReceiveFastPaths();

const codec = (mimeType: string, payloadType: number, rtcpFeedback: RTCPFB[] = []) =>
  new RTCRtpCodecParameters({ mimeType, clockRate: mimeType.startsWith('audio') ? 48000 : 90000, payloadType, rtcpFeedback });

function receiver(kind: 'audio' | 'video', codecs: RTCRtpCodecParameters[]): RTCRtpReceiver {
  const r = new RTCRtpReceiver({} as never, kind, 1234);
  r.prepareReceive({ codecs, encodings: [], headerExtensions: [] } as never);
  return r;
}

/** What werift's own getters and ours say; toEqual plus identity (they return the feedback entry). */
function expectSameFeedback(r: RTCRtpReceiver) {
  const pairs = [
    [fastNackEnabled.call(r), weriftGetters.nackEnabled.call(r)],
    [fastTwccEnabled.call(r), weriftGetters.twccEnabled.call(r)],
    [r.nackEnabled, weriftGetters.nackEnabled.call(r)], // through the installed getters
    [r.twccEnabled, weriftGetters.twccEnabled.call(r)],
  ];
  for (const [ours, theirs] of pairs) expect(ours).toBe(theirs);
}

describe('werift receive fast paths', () => {
  const peers: RTCPeerConnection[] = [];
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((pc) => pc.close()));
  });

  it('is installed on the prototypes werift uses', () => {
    const getter = (prototype: object, name: string) => Object.getOwnPropertyDescriptor(prototype, name)?.get;
    expect(getter(RTCRtpReceiver.prototype, 'nackEnabled')).toBe(fastNackEnabled);
    expect(getter(RTCRtpReceiver.prototype, 'twccEnabled')).toBe(fastTwccEnabled);
    expect(getter(RTCRtpCodecParameters.prototype, 'name')).toBe(fastCodecName);
    expect((DepacketizeBase.prototype as unknown as { checkFinalPacket: unknown }).checkFinalPacket).toBe(fastCheckFinalPacket);
  });

  it('nackEnabled and twccEnabled give what werift gives for many codec sets', () => {
    const sets: RTCRtpCodecParameters[][] = [
      [],
      [codec('audio/opus', 111)],
      [codec('audio/opus', 111, [useTWCC()])],
      [codec('video/VP8', 96, [useNACK(), usePLI(), useREMB()]), codec('video/H264', 102, [useTWCC()])],
      [codec('video/H264', 102, [useNACK(), useTWCC()]), codec('video/VP8', 96, [usePLI()])], // lowest payload type wins, not order
      [codec('video/VP8', 96, [usePLI()])], // PLI is a 'nack' type: werift reports NACK on
      [codec('video/VP8', 96, [usePLI(), useREMB(), useNACK(), useTWCC()])], // the first match is returned
      [codec('video/VP8', 120, [useTWCC()]), codec('video/rtx', 97, [])],
    ];
    for (const codecs of sets) {
      const r = receiver('video', codecs);
      expectSameFeedback(r);
      expectSameFeedback(r); // and again, from the remembered first codec
    }
  });

  it('follows codec changes: renegotiation (prepareReceive) and edits to the feedback list', () => {
    const r = receiver('video', [codec('video/VP8', 96, [usePLI()])]);
    expect(r.twccEnabled).toBeUndefined();
    const feedback = (r as unknown as { codecs: Record<number, RTCRtpCodecParameters> }).codecs[96]!.rtcpFeedback;
    feedback.push(useTWCC());
    expectSameFeedback(r);
    expect(r.twccEnabled).toEqual({ type: 'transport-cc' });

    // A lower payload type arrives in a new remote description: it becomes the first codec.
    r.prepareReceive({ codecs: [codec('video/H264', 35, [useNACK()])], encodings: [], headerExtensions: [] } as never);
    expectSameFeedback(r);
    expect(r.twccEnabled).toBeUndefined();
    expect(r.nackEnabled).toEqual({ type: 'nack' });

    // The same payload type with a new codec object replaces the old one.
    r.prepareReceive({ codecs: [codec('video/H264', 35, [useTWCC()])], encodings: [], headerExtensions: [] } as never);
    expectSameFeedback(r);
    expect(r.nackEnabled).toBeUndefined();
  });

  it('follows a real werift renegotiation that adds transport-cc', async () => {
    const vp8 = () => codec('video/VP8', 96, [useNACK(), usePLI()]);
    const offerer = new RTCPeerConnection({ codecs: { video: [vp8()] }, iceUseIpv6: false });
    const answerer = new RTCPeerConnection({ codecs: { video: [vp8()] }, iceUseIpv6: false });
    peers.push(offerer, answerer);
    offerer.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' });
    const negotiate = async (munge: (sdp: string) => string) => {
      await offerer.setLocalDescription(await offerer.createOffer());
      await answerer.setRemoteDescription({ type: 'offer', sdp: munge(offerer.localDescription!.sdp) });
      await answerer.setLocalDescription(await answerer.createAnswer());
    };
    await negotiate((sdp) => sdp);
    const r = answerer.getTransceivers()[0]!.receiver;
    expect(r.twccEnabled).toBeUndefined();
    expectSameFeedback(r);

    await negotiate((sdp) => sdp.replace('a=rtcp-fb:96 nack\r\n', 'a=rtcp-fb:96 nack\r\na=rtcp-fb:96 transport-cc\r\n'));
    expect(weriftGetters.twccEnabled.call(r)).toEqual({ type: 'transport-cc' });
    expectSameFeedback(r);
  });

  it('codec name is what werift gives, for odd MIME types too', () => {
    const mimeTypes = ['audio/opus', 'video/VP8', 'video/H264', 'video/rtx', 'audio/red', 'noslash', 'a/b/c', '', '/x'];
    for (let i = 0; i < 300; i++) mimeTypes.push(`video/codec${i}`); // past the cache bound
    for (const mimeType of [...mimeTypes, ...mimeTypes]) {
      const c = codec(mimeType, 96);
      expect(fastCodecName.call(c), mimeType).toBe(weriftGetters.name.call(c));
      expect(c.name, mimeType).toBe(weriftGetters.name.call(c));
    }
    const broken = codec('video/VP8', 96);
    (broken as { mimeType: unknown }).mimeType = undefined;
    expect(() => weriftGetters.name.call(broken)).toThrow(TypeError);
    expect(() => broken.name).toThrow(TypeError);
  });

  it("the depacketizer's checkFinalPacket behaves as werift's through loss, reordering and duplicates", async () => {
    const frames = await vp8Frames({ seconds: 1 });
    let sequenceNumber = 65_400; // wraps on the way
    const sent = frames.flatMap((frame, i) => {
      const packets = packetizeVp8(frame, { payloadType: 96, ssrc: 1, timestamp: i * 3600, sequenceNumber }, 700);
      sequenceNumber += packets.length;
      return packets.map((p) => p.serialize());
    });
    // Deterministic impairments: drop, swap with the next, duplicate.
    const arriving: Buffer[] = [];
    for (let i = 0, state = 11; i < sent.length; i++) {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      const roll = (state >> 16) % 30;
      if (roll === 0) continue;
      if (roll === 1 && i + 1 < sent.length) {
        arriving.push(sent[i + 1]!, sent[i]!);
        i++;
      } else {
        arriving.push(sent[i]!);
        if (roll === 2) arriving.push(sent[i]!);
      }
    }

    const run = (checkFinalPacket: unknown) => {
      const seen: number[] = [];
      const output: string[] = [];
      const depacketizer = new DepacketizeCallback('VP8', {
        isFinalPacketInSequence: (h) => {
          seen.push(h.sequenceNumber);
          return h.marker;
        },
      });
      Object.assign(depacketizer, { checkFinalPacket });
      depacketizer.pipe((o) => output.push(o.frame ? `${o.frame.isKeyframe} ${o.frame.data.toString('hex')}` : 'other'));
      const states: string[] = [];
      for (const packet of arriving) {
        depacketizer.input({ rtp: RtpPacket.deSerialize(packet) });
        const { lastSeqNum, frameBroken, rtpBuffer, internalStats } = depacketizer as unknown as Record<string, { length: number } & Record<string, { count?: number } | undefined>>;
        states.push(JSON.stringify([lastSeqNum, frameBroken, rtpBuffer!.length, internalStats!['packetLostCount'], internalStats!['unExpect']?.count]));
      }
      return { seen, output, states };
    };
    const theirs = run(weriftCheckFinalPacket);
    const ours = run(fastCheckFinalPacket);
    expect(theirs.output.length).toBeGreaterThan(5);
    expect(theirs.states.some((s) => JSON.parse(s)[4] > 0)).toBe(true); // reordering and duplicates seen
    expect(ours.output).toEqual(theirs.output);
    expect(ours.seen).toEqual(theirs.seen);
    expect(ours.states).toEqual(theirs.states);
  });

  it('the feedback getters are many times faster than werift', () => {
    const r = receiver('video', [codec('video/VP8', 96, [useNACK(), usePLI()]), codec('video/H264', 102, [useNACK(), usePLI()])]);
    const time = (get: (this: RTCRtpReceiver) => unknown) => {
      const started = performance.now();
      for (let i = 0; i < 20_000; i++) get.call(r);
      return performance.now() - started;
    };
    time(weriftGetters.twccEnabled);
    time(fastTwccEnabled); // warm both up
    const ratios = [0, 1, 2].map(() => time(weriftGetters.twccEnabled) / time(fastTwccEnabled));
    expect(ratios.sort((a, b) => a - b)[1]).toBeGreaterThan(4);
  });
});
