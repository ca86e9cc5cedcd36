import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  Event,
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpSender,
  RtpHeader,
  RtpPacket,
  useAbsSendTime,
  useNACK,
  usePLI,
  useSdesMid,
  useTransportWideCC,
  useTWCC,
} from 'werift';
import { opusPacketsFromWav, vp8Frames } from '../../scripts/lib/encoded-media.js';
import { packetizeVp8 } from '../../scripts/lib/vp8-packetizer.js';
import { makeSpeechWav } from '../../scripts/make-test-media.js';
import { installFastSrtp } from '../../server/media/srtp-transform.js';
import {
  fastExecute,
  fastRegisterTrack,
  fastSendRtp,
  installWeriftSendFastPaths,
  rtpPacketSent,
  weriftSendMethods,
  type EventInternals,
} from '../../server/media/werift-send-fast-paths.js';

installFastSrtp();
installWeriftSendFastPaths();

// werift's internals, read and reset to compare its path with ours.
type Internals = Record<string, any>;
type Send = (sender: RTCRtpSender, rtp: RtpPacket | Buffer) => Promise<void>;

const weriftSend: Send = (sender, rtp) => weriftSendMethods.sendRtp.call(sender, rtp) as Promise<void>;
const fastSend: Send = (sender, rtp) => fastSendRtp.call(sender as never, rtp);
const bwePrototype = Object.getPrototypeOf((new RTCRtpSender('audio') as unknown as Internals).senderBWE) as Internals;

const parts = (sender: RTCRtpSender) => {
  const s = sender as unknown as Internals;
  const dtls = s.dtlsTransport;
  return { s, dtls, pair: dtls.iceTransport.connection.nominated, srtp: dtls.srtp.localContext };
};

/** Everything werift's sendRtp writes, on the sender, its transport, the ICE pair and the SRTP context. */
function snapshot(sender: RTCRtpSender) {
  const { s, dtls, pair, srtp } = parts(sender);
  const packet = (p: RtpPacket | undefined) => p && { header: { ...p.header, extensions: p.header.extensions.map((e) => [e.id, e.payload.toString('hex')]) }, payload: p.payload.toString('hex') };
  return structuredClone({
    sender: [s.timestamp, s.sequenceNumber, s.ntpTimestamp, s.rtpTimestamp, s.octetCount, s.headerBytesSent, s.packetCount],
    offsets: [s.timestampOffset, s.seqOffset],
    rtpCache: Array.from({ length: 128 }, (_, i) => packet(s.rtpCache[i])),
    transport: [dtls.transportSequenceNumber, dtls.bytesSent, dtls.packetsSent],
    pair: [pair.packetsSent, pair.bytesSent],
    srtp: srtp.srtpSSRCStates,
    sentInfos: Object.values(s.senderBWE.sentInfos as Record<string, Internals>).map((i) => [i.wideSeq, i.size]),
  });
}

function restore(sender: RTCRtpSender, state: ReturnType<typeof snapshot>): void {
  const { s, dtls, pair, srtp } = parts(sender);
  [s.timestamp, s.sequenceNumber, s.ntpTimestamp, s.rtpTimestamp, s.octetCount, s.headerBytesSent, s.packetCount] = state.sender;
  [s.timestampOffset, s.seqOffset] = state.offsets;
  s.rtpCache = [];
  [dtls.transportSequenceNumber, dtls.bytesSent, dtls.packetsSent] = state.transport;
  [pair.packetsSent, pair.bytesSent] = state.pair;
  srtp.srtpSSRCStates = structuredClone(state.srtp);
  s.senderBWE.sentInfos = {};
}

/** RTP datagrams the sender's UDP socket is asked to send (RTCP, 192–223 in the second byte, left out). */
function captureDatagrams(sender: RTCRtpSender) {
  const socket = parts(sender).pair.protocol.transport.socket;
  const datagrams: string[] = [];
  socket.send = function (this: unknown, data: Buffer, ...rest: unknown[]) {
    if (data[1]! < 192 || data[1]! > 223) datagrams.push(`${data.toString('hex')} → ${String(rest[1])}:${String(rest[0])}`);
    return Object.getPrototypeOf(socket).send.call(this, data, ...rest);
  };
  return { datagrams, stop: () => delete socket.send };
}

/** Sends fresh copies of the packets through `send`, one at a time, with the clock werift's ntpTime reads fixed per packet. */
async function run(sender: RTCRtpSender, start: ReturnType<typeof snapshot>, packets: () => (RtpPacket | Buffer)[], send: Send) {
  restore(sender, start);
  const capture = captureDatagrams(sender);
  const base = 12_345_678.9;
  let now = base;
  const clock = vi.spyOn(performance, 'now').mockImplementation(() => now);
  const sent = packets();
  const { pair } = parts(sender);
  let synchronous = 0;
  try {
    for (const [i, packet] of sent.entries()) {
      now = base + i * 19.9173 + (i % 7) * 0.0011;
      const before = pair.packetsSent;
      const done = send(sender, packet);
      if (pair.packetsSent > before) synchronous++; // werift counts the pair's packets after its awaits
      await done;
    }
  } finally {
    clock.mockRestore();
    capture.stop();
  }
  const headers = sent.map((p) => (Buffer.isBuffer(p) ? null : { ...p.header, extensions: p.header.extensions.map((e) => `${e.id}:${e.payload.toString('hex')}`) }));
  return { datagrams: capture.datagrams, state: snapshot(sender), headers, synchronous };
}

describe('werift send fast paths', () => {
  let offerer: RTCPeerConnection;
  let answerer: RTCPeerConnection;
  let audio: RTCRtpSender;
  let video: RTCRtpSender;
  let opus: Buffer[];
  let vp8: Buffer[];
  const received: number[] = [0, 0];

  beforeAll(async () => {
    const wav = await makeSpeechWav('what colour is this', path.join(os.tmpdir(), 'werift-send-test', 'speech.wav'));
    opus = (await opusPacketsFromWav(wav)).slice(0, 120);
    vp8 = await vp8Frames({ colour: 'blue', width: 320, height: 240, seconds: 1 });
    const config = () => ({
      codecs: {
        audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111, rtcpFeedback: [useTWCC()] })],
        video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96, rtcpFeedback: [useNACK(), usePLI()] })],
      },
      // Audio with the extensions a browser negotiates (as the server sends), video with none (as the bench client sends).
      headerExtensions: { audio: [useSdesMid(), useAbsSendTime(), useTransportWideCC()], video: [] },
      iceUseIpv6: false,
    });
    offerer = new RTCPeerConnection(config());
    answerer = new RTCPeerConnection(config());
    audio = offerer.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' }).sender;
    video = offerer.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' }).sender;
    answerer.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => received[track.kind === 'audio' ? 0 : 1]!++));
    await offerer.setLocalDescription(await offerer.createOffer());
    await answerer.setRemoteDescription(offerer.localDescription!);
    await answerer.setLocalDescription(await answerer.createAnswer());
    await offerer.setRemoteDescription(answerer.localDescription!);
    await Promise.all(
      [offerer, answerer].map((pc) => new Promise<void>((resolve) => (pc.connectionState === 'connected' ? resolve() : pc.connectionStateChange.subscribe((s) => s === 'connected' && resolve())))),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all([offerer?.close(), answerer?.close()]);
  });

  it('is installed on the prototypes werift uses', () => {
    const prototype = RTCRtpSender.prototype as unknown as Internals;
    expect(prototype.sendRtp).toBe(fastSendRtp);
    expect(prototype.registerTrack).toBe(fastRegisterTrack);
    expect(bwePrototype.rtpPacketSent).toBe(rtpPacketSent);
  });

  it('sends the same datagrams as werift and leaves the same state, packet for packet (audio with header extensions)', async () => {
    expect(parts(audio).s.headerExtensions).toHaveLength(3);
    const start = { ...snapshot(audio), offsets: [0xffff_f000, 1234] }; // after a replaceTrack: both offsets wrap
    const packets = () =>
      opus.map((payload, i) => {
        const header = new RtpHeader({ payloadType: 0, sequenceNumber: (64_250 + i) & 0xffff, timestamp: (i * 960) >>> 0, marker: i % 10 === 0 });
        if (i % 9 === 4) header.csrc = [0x0102_0304, i];
        if (i % 5 === 1) header.extensions = [{ id: 1, payload: Buffer.from('m') }, { id: 7, payload: Buffer.from([i & 0xff]) }]; // id 1 is the MID's
        if (i % 5 === 2) header.extensions = [{ id: 14, payload: Buffer.from([1, 2, 3, 4, 5]) }];
        const packet = new RtpPacket(header, payload);
        return i % 11 === 3 ? packet.serialize() : packet; // werift also takes serialized RTP
      });
    const theirs = await run(audio, start, packets, weriftSend);
    const ours = await run(audio, start, packets, fastSend);
    expect(theirs.datagrams).toHaveLength(opus.length);
    expect(theirs.synchronous).toBe(0); // werift finishes sending after its awaits…
    expect(ours.synchronous).toBe(opus.length); // …ours before sendRtp returns: not werift's path
    expect(ours.datagrams).toEqual(theirs.datagrams);
    expect(ours.headers).toEqual(theirs.headers);
    expect(ours.state).toEqual(theirs.state);
    expect(theirs.state.transport[0]).not.toBe(start.transport[0]); // transport-wide sequence numbers were written
  });

  it('sends the same datagrams as werift for VP8 video without header extensions', async () => {
    const start = snapshot(video);
    const packets = () => {
      let sequenceNumber = 65_500;
      return vp8.flatMap((frame, i) => {
        const sent = packetizeVp8(frame, { payloadType: 96, ssrc: 0, timestamp: (0xffff_ffff - 3600 * 10 + i * 3600) >>> 0, sequenceNumber }, 600);
        sequenceNumber = (sequenceNumber + sent.length) & 0xffff;
        return sent;
      });
    };
    const count = packets().length;
    expect(count).toBeGreaterThan(vp8.length * 2);
    const theirs = await run(video, start, packets, weriftSend);
    const ours = await run(video, start, packets, fastSend);
    expect(ours.synchronous).toBe(count);
    expect(ours.datagrams).toEqual(theirs.datagrams);
    expect(ours.headers).toEqual(theirs.headers);
    expect(ours.state).toEqual(theirs.state);
  });

  it("goes through werift's own chain, to the same datagrams, when the remote address is a hostname", async () => {
    const { pair } = parts(audio);
    const candidate = pair.remoteCandidate;
    const start = snapshot(audio);
    const packets = () => opus.slice(0, 10).map((payload, i) => new RtpPacket(new RtpHeader({ sequenceNumber: i, timestamp: i * 960 }), payload));
    pair.remoteCandidate = Object.assign(Object.create(Object.getPrototypeOf(candidate)), candidate, { host: 'localhost' });
    try {
      const theirs = await run(audio, start, packets, weriftSend);
      const ours = await run(audio, start, packets, fastSend);
      expect(ours.synchronous).toBe(0);
      expect(ours.datagrams).toEqual(theirs.datagrams);
      expect(ours.datagrams[0]).toMatch(/→ localhost:/);
      expect(ours.state).toEqual(theirs.state);
    } finally {
      pair.remoteCandidate = candidate;
    }
  });

  it('a track written to reaches the far end through the fast path', async () => {
    const track = (audio as unknown as Internals).track as MediaStreamTrack;
    await new Promise((r) => setTimeout(r, 200)); // the earlier tests' packets have arrived
    const capture = captureDatagrams(audio);
    const { pair } = parts(audio);
    const before = received[0]!;
    try {
      for (let i = 0; i < 20; i++) {
        const counted = pair.packetsSent;
        track.writeRtp(new RtpPacket(new RtpHeader({ sequenceNumber: 100 + i, timestamp: i * 960 }), opus[i]!));
        expect(capture.datagrams).toHaveLength(i + 1);
        expect(pair.packetsSent).toBe(counted + 1); // sent and counted before writeRtp returns: werift counts later
      }
    } finally {
      capture.stop();
    }
    await vi.waitFor(() => expect(received[0]! - before).toBe(20));
  });

  it("Event.execute keeps werift's order, unsubscription and awaited (queuing) subscribers", async () => {
    const trace = (fast: boolean) => {
      const log: string[] = [];
      const event = new Event<[number]>();
      if (fast) (event as unknown as EventInternals).execute = fastExecute(event as unknown as EventInternals);
      const second = event.subscribe((n) => log.push(`b${n}`));
      event.subscribe((n) => {
        log.push(`a${n}`);
        if (n === 2) second.unSubscribe();
      });
      event.subscribe((n) => log.push(`c${n}`));
      event.execute(1);
      event.execute(2);
      event.execute(3);
      return { event, log };
    };
    expect(trace(true).log).toEqual(trace(false).log);

    const queued = async (fast: boolean) => {
      const { event, log } = trace(fast);
      const errors: unknown[] = [];
      event.onerror = (e) => errors.push(e);
      event.queuingSubscribe(async (n) => {
        await new Promise((r) => setTimeout(r, 5));
        log.push(`q${n}`);
        if (n === 5) throw new Error('queued failure');
      });
      event.execute(4);
      event.execute(5);
      log.push('sync');
      await new Promise((r) => setTimeout(r, 40));
      event.complete();
      event.execute(6);
      return { log, errors: errors.map(String) };
    };
    expect(await queued(true)).toEqual(await queued(false));
  });

  it("rtpPacketSent stores and deletes as werift's does", () => {
    const infos = [
      { wideSeq: 5, size: 100, sendingAtMs: 1, sentAtMs: 1 },
      { wideSeq: 9, size: 100, sendingAtMs: 1, sentAtMs: 1, 3: 'x', 7: 'y', 12: 'z', '04': 'w' } as never,
      { wideSeq: 2, size: 50, sendingAtMs: 2, sentAtMs: 2 },
    ];
    const apply = (method: (this: unknown, info: never) => void) => {
      const bwe = { sentInfos: Object.fromEntries([1, 3, 4, 6, 7, 8, 11, 12].map((n) => [n, { wideSeq: n }])) };
      for (const info of infos) method.call(bwe, info as never);
      return bwe.sentInfos;
    };
    const theirs = apply(weriftSendMethods.rtpPacketSent as never);
    expect(apply(rtpPacketSent as never)).toEqual(theirs);
    expect(Object.keys(theirs)).not.toContain('3'); // numeric keys below wideSeq were deleted
  });
});
