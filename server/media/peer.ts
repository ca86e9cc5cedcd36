import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  MediaStreamTrack,
  useAbsSendTime,
  useSdesMid,
  useTransportWideCC,
  useNACK,
  usePLI,
  useREMB,
  useTWCC,
  type RTCIceServer,
  type RTCRtpTransceiver,
  type RtpPacket,
} from 'werift';

import { announcePublicIp } from './public-ip-candidates.js';
import { checkSdpOffer, SdpOfferProblem } from './sdp-offer-check.js';
import { installWeriftPatches, weriftPatchProblem } from './werift-patches.js';

installWeriftPatches();
import { deferMdnsCandidates } from './mdns-candidates.js';

export type VideoCodecName = 'VP8' | 'H264' | 'VP9';
export type PeerState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

export interface MediaPeerEvents {
  onMicRtp(rtp: RtpPacket): void;
  onVideoRtp(rtp: RtpPacket, codec: VideoCodecName): void;
  onStateChange?(state: PeerState): void;
}

const videoFeedback = () => [useNACK(), usePLI(), useREMB(), useTWCC()];

/** Codecs we accept from the browser; Opus is the only audio codec (speech goes back as Opus). */
function peerCodecs() {
  return {
    audio: [
      new RTCRtpCodecParameters({
        mimeType: 'audio/opus',
        clockRate: 48000,
        channels: 2,
        payloadType: 111,
        parameters: 'minptime=10;useinbandfec=1',
        rtcpFeedback: [useTWCC()],
      }),
    ],
    video: [
      new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: 96, rtcpFeedback: videoFeedback() }),
      new RTCRtpCodecParameters({
        mimeType: 'video/H264',
        clockRate: 90000,
        payloadType: 102,
        rtcpFeedback: videoFeedback(),
        parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
      }),
      // Profile 0 (8-bit 4:2:0), what Chrome and Firefox send by default; listed last so VP8 stays
      // the preferred codec when the browser offers both.
      new RTCRtpCodecParameters({ mimeType: 'video/VP9', clockRate: 90000, payloadType: 98, rtcpFeedback: videoFeedback(), parameters: 'profile-id=0' }),
    ],
  };
}

/** From the answer to a connected peer; past it the call counts as failed (the page is told). */
const CONNECT_TIMEOUT_MS = 20_000;

export class OfferError extends Error {
  override name = 'OfferError';
}

export interface MediaPeerOptions {
  /** STUN/TURN servers (ICE_SERVERS); none by default, so no outside server is contacted. */
  iceServers?: RTCIceServer[];
  /** Where the peer's media sockets are (ICE_PORT_RANGE; a worker's share of it in a cluster). */
  portRange?: [number, number];
  /** The address announced beside the host candidates (ICE_PUBLIC_IP). */
  publicIp?: string;
}

/**
 * The server side of one browser call: receives mic Opus and camera/screen video, and owns the
 * outgoing audio track the assistant speaks on (same audio m-line, sendrecv).
 */
export class MediaPeer {
  private readonly pc: RTCPeerConnection;
  /** The track the RTP sender writes to; werift rewrites SSRC and payload type on the way out. */
  readonly speechTrack = new MediaStreamTrack({ kind: 'audio' });
  private audioTransceiver?: RTCRtpTransceiver;
  private videoTransceiver?: RTCRtpTransceiver;
  private videoSsrc?: number;
  private closed = false;
  /** werift waits for more candidates for ever when the offer does not end them: this ends it. */
  private connectTimer?: NodeJS.Timeout;

  constructor(
    private readonly events: MediaPeerEvents,
    private readonly options: MediaPeerOptions = {},
  ) {
    const patchProblem = weriftPatchProblem();
    if (patchProblem) throw new Error(patchProblem); // never a half-patched werift
    this.pc = new RTCPeerConnection({
      // werift would otherwise ask stun.l.google.com for every call.
      iceServers: options.iceServers ?? [],
      bundlePolicy: 'max-bundle',
      ...(options.portRange ? { icePortRange: options.portRange } : {}),
      codecs: peerCodecs(),
      headerExtensions: {
        audio: [useSdesMid(), useAbsSendTime(), useTransportWideCC()],
        // TWCC and abs-send-time let Chrome's bandwidth estimator raise the video bitrate.
        video: [useSdesMid(), useAbsSendTime(), useTransportWideCC()],
      },
      iceUseIpv6: false,
    });
    this.pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected' || state === 'failed' || state === 'closed') clearTimeout(this.connectTimer);
      this.events.onStateChange?.(state);
    });
    this.pc.onRemoteTransceiverAdded.subscribe((transceiver) => this.adopt(transceiver));
  }

  get state(): PeerState {
    return this.pc.connectionState;
  }

  /** The payload type negotiated for Opus on the outgoing audio (for the RTP sender). */
  get speechPayloadType(): number {
    return this.audioTransceiver?.getPayloadType('audio/opus') ?? 111;
  }

  /** Takes the browser's offer, returns a complete (non-trickle) answer SDP. */
  async answer(offerSdp: unknown): Promise<string> {
    if (typeof offerSdp !== 'string') throw new OfferError('The call could not start: the offer is not an SDP document.');
    try {
      checkSdpOffer(offerSdp);
    } catch (err) {
      if (err instanceof SdpOfferProblem) throw new OfferError(`The call could not start: ${err.message}.`);
      throw err;
    }
    const offer = deferMdnsCandidates(offerSdp);
    void offer.resolved.then((candidates) => {
      for (const candidate of candidates) if (!this.closed) this.pc.addIceCandidate(candidate).catch(() => undefined);
    });
    try {
      await this.pc.setRemoteDescription({ type: 'offer', sdp: offer.sdp });
    } catch (err) {
      // werift's own words name its internals; the log keeps them, the page gets ours.
      throw new OfferError('The call could not start: the server could not use the browser\'s offer.', { cause: err });
    }
    if (!this.audioTransceiver) throw new OfferError('The offer has no audio (microphone) track.');
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    this.connectTimer = setTimeout(() => {
      if (this.closed || this.pc.connectionState === 'connected') return;
      this.events.onStateChange?.('failed');
      void this.close();
    }, CONNECT_TIMEOUT_MS);
    const local = this.pc.localDescription;
    if (!local) throw new OfferError('No local description was produced.');
    return this.options.publicIp ? announcePublicIp(local.sdp, this.options.publicIp) : local.sdp;
  }

  /** Asks the browser for a fresh keyframe (Picture Loss Indication). */
  requestKeyframe(): void {
    if (this.videoTransceiver && this.videoSsrc !== undefined && !this.closed) {
      this.videoTransceiver.receiver.sendRtcpPLI(this.videoSsrc).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.connectTimer);
    this.speechTrack.stop();
    await this.pc.close().catch(() => undefined);
  }

  private adopt(transceiver: RTCRtpTransceiver): void {
    if (transceiver.kind === 'audio' && !this.audioTransceiver) {
      this.audioTransceiver = transceiver;
      transceiver.setDirection('sendrecv');
      transceiver.sender.replaceTrack(this.speechTrack).catch(() => undefined);
      transceiver.onTrack.subscribe((track) => {
        track.onReceiveRtp.subscribe((rtp) => this.events.onMicRtp(rtp));
      });
    } else if (transceiver.kind === 'video' && !this.videoTransceiver) {
      this.videoTransceiver = transceiver;
      transceiver.setDirection('recvonly');
      transceiver.onTrack.subscribe((track) => {
        track.onReceiveRtp.subscribe((rtp) => {
          this.videoSsrc = rtp.header.ssrc;
          this.events.onVideoRtp(rtp, videoCodecName(track.codec?.mimeType));
        });
      });
    }
  }
}

function videoCodecName(mimeType: string | undefined): VideoCodecName {
  switch (mimeType?.toLowerCase()) {
    case 'video/h264':
      return 'H264';
    case 'video/vp9':
      return 'VP9';
    default:
      return 'VP8';
  }
}
