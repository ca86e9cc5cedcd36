import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  useNACK,
  usePLI,
  type RTCRtpTransceiver,
} from 'werift';
import { packetizeVp8 } from './vp8-packetizer.js';
import { installFastRtpHeaderParser } from '../../server/media/rtp-header-parser.js';
import { installFastSrtp } from '../../server/media/srtp-transform.js';
import { installWeriftReceiveFastPaths } from '../../server/media/werift-receive-fast-paths.js';
import { installWeriftSendFastPaths } from '../../server/media/werift-send-fast-paths.js';

// The bench's client peers share the machine with the server: they use the same cheaper paths.
// (They receive audio only, so the VP8 descriptor parser does not apply.)
installFastRtpHeaderParser();
installFastSrtp();
installWeriftReceiveFastPaths();
installWeriftSendFastPaths();

/**
 * A browser stand-in made of werift: sends Opus mic packets and VP8 frames, receives the
 * assistant's speech. Used by the integration test and the benchmark.
 */
export class ClientPeer {
  readonly pc = new RTCPeerConnection({
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111 })],
      video: [
        new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96, rtcpFeedback: [useNACK(), usePLI()] }),
      ],
    },
    iceUseIpv6: false,
  });
  private readonly micTrack = new MediaStreamTrack({ kind: 'audio' });
  private readonly camTrack = new MediaStreamTrack({ kind: 'video' });
  private readonly audio: RTCRtpTransceiver;
  private micSeq = Math.floor(Math.random() * 65535);
  private micTs = Math.floor(Math.random() * 2 ** 31);
  private camSeq = Math.floor(Math.random() * 65535);
  private camTs = Math.floor(Math.random() * 2 ** 31);
  readonly received: { rtp: RtpPacket; at: number }[] = [];
  keyframeRequests = 0;
  onSpeechPacket?: (rtp: RtpPacket, at: number) => void;

  constructor(options: { keepReceived?: boolean } = {}) {
    this.audio = this.pc.addTransceiver(this.micTrack, { direction: 'sendrecv' });
    const video = this.pc.addTransceiver(this.camTrack, { direction: 'sendonly' });
    this.audio.onTrack.subscribe((track) =>
      track.onReceiveRtp.subscribe((rtp) => {
        const at = performance.now();
        if (options.keepReceived !== false) this.received.push({ rtp, at });
        this.onSpeechPacket?.(rtp, at);
      }),
    );
    video.sender.onRtcp.subscribe((rtcp) => {
      if (rtcp.type === 206) this.keyframeRequests++;
    });
  }

  /** Non-trickle offer with every candidate in it. */
  async offer(): Promise<string> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    return this.pc.localDescription!.sdp;
  }

  async accept(answerSdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answerSdp });
    await new Promise<void>((resolve, reject) => {
      if (this.pc.connectionState === 'connected') return resolve();
      const timer = setTimeout(() => reject(new Error('client peer did not connect within 10 s')), 10_000);
      this.pc.connectionStateChange.subscribe((state) => {
        if (state === 'connected') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  /** One 20 ms Opus mic packet. */
  sendMic(opus: Buffer): void {
    this.micTrack.writeRtp(
      new RtpPacket(new RtpHeader({ payloadType: 111, sequenceNumber: this.micSeq, timestamp: this.micTs >>> 0, marker: false }), opus),
    );
    this.micSeq = (this.micSeq + 1) & 0xffff;
    this.micTs += 960;
  }

  /** One VP8 frame, 40 ms at 25 fps on the 90 kHz clock, all its packets at once. */
  sendVideoFrame(frame: Buffer, frameDurationMs = 40): void {
    for (const packet of this.packetizeVideoFrame(frame, frameDurationMs)) this.sendVideoPacket(packet);
  }

  /** One VP8 frame as RTP packets to send (paced by the caller); advances sequence and timestamp. */
  packetizeVideoFrame(frame: Buffer, frameDurationMs = 40): RtpPacket[] {
    const packets = packetizeVp8(frame, { payloadType: 96, ssrc: 0, timestamp: this.camTs, sequenceNumber: this.camSeq });
    this.camSeq = (this.camSeq + packets.length) & 0xffff;
    this.camTs += frameDurationMs * 90;
    return packets;
  }

  sendVideoPacket(packet: RtpPacket): void {
    this.camTrack.writeRtp(packet);
  }

  async close(): Promise<void> {
    await this.pc.close();
  }
}
