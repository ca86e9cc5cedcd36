import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  MediaStreamTrack,
  ProtectionProfileAes128CmHmacSha1_80 as AES_CM_128_HMAC_SHA1_80,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtcpHeader,
  RtpHeader,
  RtpPacket,
  SrtpAuthenticationError,
  SrtpSession,
} from 'werift';
import { installFastSrtp, weriftCtrCipherPrototype } from '../../server/media/srtp-transform.js';
import { opusPacketsFromWav, vp8Frames } from '../../scripts/lib/encoded-media.js';
import { packetizeVp8 } from '../../scripts/lib/vp8-packetizer.js';
import { makeSpeechWav } from '../../scripts/make-test-media.js';
import os from 'node:os';
import path from 'node:path';

// werift's own transform, kept before installFastSrtp() replaces it.
const weriftPrototype = weriftCtrCipherPrototype();
const weriftEncrypt = weriftPrototype.encryptRtp;
const weriftDecrypt = weriftPrototype.decryptRtp;
const weriftEncryptRtcp = weriftPrototype.encryptRTCP;
const weriftDecryptRtcp = weriftPrototype.decryptRTCP;

type Cipher = ReturnType<typeof weriftCtrCipherPrototype>;

function ctrSessionPair(): { sender: Cipher; receiver: Cipher } {
  const key = randomBytes(16);
  const salt = randomBytes(14);
  const other = { key: randomBytes(16), salt: randomBytes(14) };
  const make = (localKey: Buffer, localSalt: Buffer, remoteKey: Buffer, remoteSalt: Buffer) =>
    new SrtpSession({
      keys: { localMasterKey: localKey, localMasterSalt: localSalt, remoteMasterKey: remoteKey, remoteMasterSalt: remoteSalt },
      profile: AES_CM_128_HMAC_SHA1_80,
    });
  const a = make(key, salt, other.key, other.salt);
  const b = make(other.key, other.salt, key, salt);
  const cipherOf = (context: unknown) => (context as { cipher: Cipher }).cipher;
  return { sender: cipherOf(a.localContext), receiver: cipherOf(b.remoteContext) };
}

async function realPayloads(): Promise<Buffer[]> {
  const wav = await makeSpeechWav('what colour is this', path.join(os.tmpdir(), 'srtp-transform-test', 'speech.wav'));
  const opus = (await opusPacketsFromWav(wav)).slice(0, 60);
  const frames = await vp8Frames({ colour: 'red', width: 320, height: 240, fps: 25, seconds: 1 });
  const vp8 = frames.flatMap((frame, i) => packetizeVp8(frame, { payloadType: 96, ssrc: 1, timestamp: i * 3600, sequenceNumber: 0 })).map((p) => p.payload);
  return [...opus, ...vp8, Buffer.alloc(0), Buffer.alloc(1, 7), Buffer.alloc(17, 9)];
}

function headerFor(i: number): RtpHeader {
  const header = new RtpHeader({
    payloadType: i % 2 ? 111 : 96,
    sequenceNumber: (65500 + i * 7) & 0xffff,
    timestamp: (i * 960) >>> 0,
    ssrc: 0x1234_5678 + (i % 3),
    marker: i % 5 === 0,
    csrc: i % 11 === 0 ? [1, 2] : [],
    extension: i % 4 === 0,
    extensionProfile: 0xbede,
    extensions: i % 4 === 0 ? [{ id: 3, payload: Buffer.from([i & 0xff, 1, 2]) }] : [],
  });
  header.csrcLength = header.csrc.length;
  return header;
}

describe('SRTP transform (AES_CM_128_HMAC_SHA1_80)', () => {
  installFastSrtp();

  it("encrypts every packet to the same bytes as werift's transform, and decrypts werift's packets to the same RTP", async () => {
    expect(weriftPrototype.encryptRtp).not.toBe(weriftEncrypt); // installed, so `ours` below is not werift's
    expect(weriftPrototype.decryptRtp).not.toBe(weriftDecrypt);
    const payloads = await realPayloads();
    expect(payloads.length).toBeGreaterThan(80);
    let checked = 0;
    // A session per packet: the headers' sequence numbers wrap under a fixed ROC, which the
    // replay window (tested below) would refuse as old.
    for (const rolloverCounter of [0, 1, 0xffff_ffff]) {
      for (const [i, payload] of payloads.entries()) {
        const { sender, receiver } = ctrSessionPair();
        const header = headerFor(i);
        const ours = sender.encryptRtp(header, payload, rolloverCounter);
        const theirs = weriftEncrypt.call(sender, header, payload, rolloverCounter);
        expect(ours.equals(theirs), `packet ${i}, ROC ${rolloverCounter}`).toBe(true);

        const parsed = () => RtpHeader.deSerialize(theirs.subarray(0, theirs.length - 10));
        const [ourPlain, ourHeader] = receiver.decryptRtp(theirs, rolloverCounter, parsed());
        const [theirPlain, theirHeader] = weriftDecrypt.call(receiver, theirs, rolloverCounter, parsed());
        expect(ourPlain.equals(theirPlain)).toBe(true);
        expect(ourPlain.subarray(header.serializeSize).equals(payload)).toBe(true);
        expect(ourHeader.paddingSize).toBe(theirHeader.paddingSize);
        checked++;
      }
    }
    expect(checked).toBe(payloads.length * 3);
  });

  it("protects RTCP (SRTCP) to the same bytes as werift, and reads werift's SRTCP back", () => {
    expect(weriftPrototype.encryptRTCP).not.toBe(weriftEncryptRtcp);
    const { sender, receiver } = ctrSessionPair();
    // Sender reports, receiver reports, transport-wide feedback: 200 (SR), 201 (RR), 205 (RTPFB), 206 (PSFB).
    for (const [i, type] of [200, 201, 205, 206, 201, 200].entries()) {
      const body = randomBytes(4 + 24 * i);
      const rtcp = Buffer.concat([RtcpHeader.serialize(type, i % 2, Buffer.alloc(0), (body.length + 4) / 4 - 1), body]);
      for (const srtcpIndex of [0, 1, 0x1_0002, 0x7fff_ffff]) {
        const ours = sender.encryptRTCP(rtcp, srtcpIndex);
        const theirs = weriftEncryptRtcp.call(sender, rtcp, srtcpIndex);
        expect(ours.equals(theirs), `type ${type}, index ${srtcpIndex}`).toBe(true);
        const [ourPlain, ourHeader] = receiver.decryptRTCP(theirs);
        const [theirPlain, theirHeader] = weriftDecryptRtcp.call(receiver, theirs);
        expect(ourPlain.equals(theirPlain) && ourPlain.equals(rtcp)).toBe(true);
        expect({ ...ourHeader }).toEqual({ ...theirHeader });
        const tampered = Buffer.from(theirs);
        tampered[10]! ^= 0x80;
        expect(() => receiver.decryptRTCP(tampered)).toThrow(SrtpAuthenticationError);
      }
    }
  });

  it('decrypts padded packets with the padding size werift reports, and refuses impossible padding', () => {
    const { sender, receiver } = ctrSessionPair();
    const padded = Buffer.concat([Buffer.from('hello'), Buffer.from([0, 0, 3])]);
    const header = new RtpHeader({ payloadType: 96, sequenceNumber: 1, timestamp: 2, ssrc: 3, padding: true });
    const packet = sender.encryptRtp(header, padded, 0);
    const [, parsed] = receiver.decryptRtp(packet, 0, RtpHeader.deSerialize(packet.subarray(0, packet.length - 10)));
    expect(parsed.paddingSize).toBe(3);

    const badPadding = sender.encryptRtp(header, Buffer.from([1, 2, 200]), 0);
    expect(() => receiver.decryptRtp(badPadding, 0, RtpHeader.deSerialize(badPadding.subarray(0, badPadding.length - 10)))).toThrow(
      SrtpAuthenticationError,
    );
  });

  it('refuses a packet whose payload, header, tag or rollover counter was changed', () => {
    const { sender, receiver } = ctrSessionPair();
    const header = new RtpHeader({ payloadType: 111, sequenceNumber: 42, timestamp: 960, ssrc: 99 });
    const packet = sender.encryptRtp(header, randomBytes(80), 5);
    const parse = (p: Buffer) => RtpHeader.deSerialize(p.subarray(0, p.length - 10));
    expect(() => receiver.decryptRtp(packet, 5, parse(packet))).not.toThrow();
    for (const at of [3, 20, packet.length - 1]) {
      const tampered = Buffer.from(packet);
      tampered[at]! ^= 0x01;
      expect(() => receiver.decryptRtp(tampered, 5, parse(tampered)), `byte ${at}`).toThrow(SrtpAuthenticationError);
    }
    expect(() => receiver.decryptRtp(packet, 6, parse(packet))).toThrow(SrtpAuthenticationError);
  });

  it('makes two werift peers negotiate AES_CM_128_HMAC_SHA1_80 and carry RTP through the transform', async () => {
    const codecs = { audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111 })] };
    const offerer = new RTCPeerConnection({ codecs, iceUseIpv6: false });
    const answerer = new RTCPeerConnection({ codecs, iceUseIpv6: false });
    try {
      const track = new MediaStreamTrack({ kind: 'audio' });
      offerer.addTransceiver(track, { direction: 'sendonly' });
      const received = new Promise<Buffer>((resolve) =>
        answerer.onTransceiverAdded.subscribe((transceiver) =>
          transceiver.onTrack.subscribe((remote) => remote.onReceiveRtp.subscribe((rtp) => resolve(rtp.payload))),
        ),
      );
      await offerer.setLocalDescription(await offerer.createOffer());
      await answerer.setRemoteDescription(offerer.localDescription!);
      await answerer.setLocalDescription(await answerer.createAnswer());
      await offerer.setRemoteDescription(answerer.localDescription!);
      await new Promise<void>((resolve) => {
        if (offerer.connectionState === 'connected') resolve();
        offerer.connectionStateChange.subscribe((state) => state === 'connected' && resolve());
      });
      const payload = Buffer.from('an opus frame stand-in');
      const timer = setInterval(() => track.writeRtp(new RtpPacket(new RtpHeader({ payloadType: 111, sequenceNumber: 1, timestamp: 0 }), payload)), 50);
      try {
        expect((await received).equals(payload)).toBe(true);
      } finally {
        clearInterval(timer);
      }
      for (const pc of [offerer, answerer]) {
        const srtp = (pc.dtlsTransports[0] as unknown as { srtp: { localContext: { profile: number } } }).srtp;
        expect(srtp.localContext.profile).toBe(AES_CM_128_HMAC_SHA1_80);
      }
    } finally {
      await Promise.all([offerer.close(), answerer.close()]);
    }
  }, 20_000);
});

describe('SRTP replay protection (RFC 3711 §3.3.2, §3.4)', () => {
  installFastSrtp();
  const parse = (p: Buffer) => RtpHeader.deSerialize(p.subarray(0, p.length - 10));

  it('refuses a replayed RTP packet and one older than the 64-packet window, accepts late ones inside it', () => {
    const { sender, receiver } = ctrSessionPair();
    const packetFor = (sequenceNumber: number, rolloverCounter = 0) =>
      sender.encryptRtp(new RtpHeader({ payloadType: 111, sequenceNumber, timestamp: sequenceNumber * 960, ssrc: 7 }), randomBytes(40), rolloverCounter);
    const p100 = packetFor(100);
    expect(() => receiver.decryptRtp(p100, 0, parse(p100))).not.toThrow();
    expect(() => receiver.decryptRtp(p100, 0, parse(p100))).toThrow(/Replayed/);
    const p200 = packetFor(200);
    receiver.decryptRtp(p200, 0, parse(p200));
    const late = packetFor(137); // 63 behind: inside the window
    expect(() => receiver.decryptRtp(late, 0, parse(late))).not.toThrow();
    expect(() => receiver.decryptRtp(late, 0, parse(late))).toThrow(/Replayed/);
    const tooOld = packetFor(136); // 64 behind: outside
    expect(() => receiver.decryptRtp(tooOld, 0, parse(tooOld))).toThrow(/too old/);
    const nextRoc = packetFor(5, 1); // after a wrap of the sequence number
    expect(() => receiver.decryptRtp(nextRoc, 1, parse(nextRoc))).not.toThrow();
  });

  it('a forged packet does not move the window', () => {
    const { sender, receiver } = ctrSessionPair();
    const ok = sender.encryptRtp(new RtpHeader({ payloadType: 111, sequenceNumber: 10, timestamp: 0, ssrc: 7 }), randomBytes(40), 0);
    const forged = sender.encryptRtp(new RtpHeader({ payloadType: 111, sequenceNumber: 5000, timestamp: 0, ssrc: 7 }), randomBytes(40), 0);
    forged[forged.length - 1]! ^= 1;
    expect(() => receiver.decryptRtp(forged, 0, parse(forged))).toThrow(/authenticate/);
    expect(() => receiver.decryptRtp(ok, 0, parse(ok))).not.toThrow(); // still fresh: 5000 was never accepted
  });

  it('refuses a replayed SRTCP index', () => {
    const { sender, receiver } = ctrSessionPair();
    const rtcp = Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 9]); // an empty receiver report from SSRC 9
    const first = sender.encryptRTCP(rtcp, 1);
    expect(() => receiver.decryptRTCP(first)).not.toThrow();
    expect(() => receiver.decryptRTCP(first)).toThrow(/Replayed/);
    expect(() => receiver.decryptRTCP(sender.encryptRTCP(rtcp, 2))).not.toThrow();
    expect(() => receiver.decryptRTCP(sender.encryptRTCP(rtcp, 1))).toThrow(/Replayed/);
  });
});
