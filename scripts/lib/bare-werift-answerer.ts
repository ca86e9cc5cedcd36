/**
 * A bare werift 0.24 answerer: Opus + VP8, transport-cc and abs-send-time negotiated, NACK/PLI/
 * REMB/transport-cc feedback offered, and nothing of this project's (no fast paths, no patches).
 * The reference that scripts/video-bitrate-vs-werift.ts measures the real server against: with
 * it, Chromium's encoder shows what werift's own feedback lets it reach.
 *
 * Import it only in a process that does not import server/media/peer.ts (that installs the
 * project's patches into werift for the whole process).
 */
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  useAbsSendTime,
  useNACK,
  usePLI,
  useREMB,
  useSdesMid,
  useTransportWideCC,
  useTWCC,
} from 'werift';

export interface BareAnswerer {
  answer(offerSdp: string): Promise<string>;
  /** Video RTP packets and bytes received so far. */
  readonly received: { packets: number; bytes: number };
  close(): Promise<void>;
}

export function bareWeriftAnswerer(): BareAnswerer {
  const pc = new RTCPeerConnection({
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111, rtcpFeedback: [useTWCC()] })],
      video: [
        new RTCRtpCodecParameters({
          mimeType: 'video/VP8',
          clockRate: 90000,
          payloadType: 96,
          rtcpFeedback: [useNACK(), usePLI(), useREMB(), useTWCC()],
        }),
      ],
    },
    headerExtensions: {
      audio: [useSdesMid(), useAbsSendTime(), useTransportWideCC()],
      video: [useSdesMid(), useAbsSendTime(), useTransportWideCC()],
    },
    iceUseIpv6: false,
  });
  const received = { packets: 0, bytes: 0 };
  pc.onRemoteTransceiverAdded.subscribe((transceiver) => {
    if (transceiver.kind !== 'video') return;
    transceiver.setDirection('recvonly');
    transceiver.onTrack.subscribe((track) =>
      track.onReceiveRtp.subscribe((rtp) => {
        received.packets++;
        received.bytes += rtp.payload.length;
      }),
    );
  });
  return {
    received,
    async answer(offerSdp: string): Promise<string> {
      await pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
      await pc.setLocalDescription(await pc.createAnswer());
      return pc.localDescription!.sdp;
    },
    close: () => pc.close(),
  };
}
