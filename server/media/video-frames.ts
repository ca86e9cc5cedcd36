import { RtpHeader, RtpPacket } from 'werift';
import { DepacketizeCallback, type DepacketizerCodec } from 'werift/nonstandard';
import { RtpReorderBuffer } from './rtp-reorder-buffer.js';

export type VideoCodec = 'VP8' | 'H264' | 'VP9';

/** One whole encoded picture: a VP8 or VP9 frame, or an H.264 access unit in Annex-B form. */
export interface EncodedFrame {
  data: Buffer;
  isKeyframe: boolean;
  rtpTimestamp: number;
}

export interface VideoFrameBufferOptions {
  codec: VideoCodec;
  /** Past this many frames since the keyframe, ask for a new one (default 300, ~10 s at 30 fps). */
  maxFramesSinceKeyframe?: number;
  /** Ask the sender for a keyframe (RTCP PLI). Called at most twice a second. */
  onNeedKeyframe?: () => void;
  /** Each keyframe as it is completed. */
  onKeyframe?: (frame: EncodedFrame) => void;
}

const DEPACKETIZER_CODEC: Record<VideoCodec, DepacketizerCodec> = { VP8: 'VP8', H264: 'MPEG4/ISO/AVC', VP9: 'VP9' };
const VIDEO_CLOCK_RATE = 90_000;
const REORDER_LATENCY_MS = 100;
const MIN_KEYFRAME_REQUEST_INTERVAL_MS = 500;
const H264_NAL_IDR = 5;

/**
 * Keeps the frames a decoder needs to show the newest picture: the last keyframe and every frame
 * after it. RTP is put back in order, then werift's depacketizer rebuilds frames (a frame ends at
 * the RTP marker bit for VP8, VP9 and H.264). For VP9 the marker ends the whole picture (RFC 9628
 * §4.1), so a picture's spatial layers would stay together, but their frames would be joined
 * without a superframe index; browsers send one layer unless SVC is asked for, which the page never does.
 */
export class VideoFrameBuffer {
  readonly codec: VideoCodec;
  readonly #maxFramesSinceKeyframe: number;
  readonly #onNeedKeyframe?: () => void;
  readonly #onKeyframe?: (frame: EncodedFrame) => void;
  #lengthRequestsPaused = false;
  /** The chain reached its bound while length requests were paused: it stops growing until a keyframe. */
  #chainFull = false;
  #reorderBuffer!: RtpReorderBuffer;
  #depacketizer!: DepacketizeCallback;
  #frames: EncodedFrame[] = [];
  #latestFrameAt?: number;
  #lastKeyframeRequestAt = -Infinity;
  /** A packet after the newest kept frame was lost; later delta frames are not decodable. */
  #chainBroken = false;
  /** Sequence numbers of media packets as the depacketizer sees them (padding left out). */
  #mediaSequence = 0;

  constructor(options: VideoFrameBufferOptions) {
    this.codec = options.codec;
    this.#maxFramesSinceKeyframe = options.maxFramesSinceKeyframe ?? 300;
    this.#onNeedKeyframe = options.onNeedKeyframe;
    this.#onKeyframe = options.onKeyframe;
    this.#buildPipeline();
  }

  /**
   * While true (Space held: the turn's still is its talk-start keyframe), a long chain asks for no
   * keyframe: past twice the limit it stops growing instead, and asks once this is false again.
   * Loss still asks at once.
   */
  set lengthRequestsPaused(paused: boolean) {
    this.#lengthRequestsPaused = paused;
  }

  /** Date.now() when the newest frame was completed. */
  get latestFrameAt(): number | undefined {
    return this.#latestFrameAt;
  }

  get hasKeyframe(): boolean {
    return this.#frames.length > 0;
  }

  /** The last keyframe first, then every later frame, oldest to newest. */
  framesSinceKeyframe(): readonly EncodedFrame[] {
    return this.#frames.slice();
  }

  pushRtp(rtp: RtpPacket): void {
    this.#reorderBuffer.push(rtp);
  }

  /** Forget every frame and wait for the next keyframe (source switch, sender restart). */
  reset(): void {
    this.#depacketizer.destroy();
    this.#frames = [];
    this.#chainBroken = false;
    this.#chainFull = false;
    this.#latestFrameAt = undefined;
    this.#buildPipeline();
  }

  #buildPipeline(): void {
    this.#buildDepacketizer();
    this.#reorderBuffer = new RtpReorderBuffer({
      clockRate: VIDEO_CLOCK_RATE,
      latencyMs: REORDER_LATENCY_MS,
      onPacket: (rtp) => this.#depacketize(rtp),
      // A lost packet breaks its frame and every later frame that refers to it: keep the chain
      // as it was (its newest frame still decodes cleanly) until the next keyframe, and start
      // the depacketizer afresh so the broken frame's remains are never assembled.
      onLoss: () => {
        this.#chainBroken = true;
        this.#depacketizer.destroy();
        this.#buildDepacketizer();
        this.#requestKeyframe();
      },
    });
  }

  #buildDepacketizer(): void {
    this.#depacketizer = new DepacketizeCallback(DEPACKETIZER_CODEC[this.codec], {
      isFinalPacketInSequence: (header) => header.marker,
    });
    this.#depacketizer.pipe((output) => {
      if (output.frame) this.#addFrame(output.frame.data, output.frame.isKeyframe, rtpTimestampOf(output.frame));
    });
  }

  /**
   * Chrome sends padding-only packets (bandwidth probing; werift strips the padding, leaving an
   * empty payload) between frames. werift's depacketizer mistakes one for a frame start and drops
   * the next real frame, which silently breaks the chain. So padding is consumed here: the
   * reorder buffer has already used its sequence number, and the depacketizer gets the media
   * packets renumbered without the holes the padding would leave. (It also empties the packets
   * it has used, RtpPacket.clear(), so it gets its own packet objects.)
   */
  #depacketize(rtp: RtpPacket): void {
    if (rtp.payload.length === 0) return;
    const header = new RtpHeader({
      payloadType: rtp.header.payloadType,
      ssrc: rtp.header.ssrc,
      timestamp: rtp.header.timestamp,
      marker: rtp.header.marker,
      sequenceNumber: this.#mediaSequence,
    });
    this.#mediaSequence = (this.#mediaSequence + 1) & 0xffff;
    this.#depacketizer.input({ rtp: new RtpPacket(header, rtp.payload) });
  }

  #addFrame(data: Buffer, reportedKeyframe: boolean, rtpTimestamp: number): void {
    // werift guesses H.264 keyframes from a byte that is not the NAL type for single-NAL packets;
    // looking at the NAL unit types of the access unit is exact.
    const isKeyframe = this.codec === 'H264' ? containsH264Idr(data) : reportedKeyframe;
    if (isKeyframe) {
      this.#frames = [];
      this.#chainBroken = false;
      this.#chainFull = false;
    } else if (this.#chainBroken) {
      this.#requestKeyframe(); // decoding this against a chain with a hole would give garbage
      return;
    } else if (this.#chainFull) {
      if (!this.#lengthRequestsPaused) this.#requestKeyframe();
      return;
    } else if (this.#frames.length === 0) {
      this.#requestKeyframe(); // a delta frame is useless without its keyframe
      return;
    } else if (this.#frames.length >= this.#maxFramesSinceKeyframe * 2) {
      if (this.#lengthRequestsPaused) {
        this.#chainFull = true; // keep the chain as it is (its newest frame still decodes)
        return;
      }
      // The sender ignored our requests: drop the chain rather than grow without bound.
      this.#frames = [];
      this.#requestKeyframe();
      return;
    }
    const frame = { data, isKeyframe, rtpTimestamp };
    this.#frames.push(frame);
    this.#latestFrameAt = Date.now();
    if (isKeyframe) this.#onKeyframe?.(frame);
    if (this.#frames.length > this.#maxFramesSinceKeyframe && !this.#lengthRequestsPaused) this.#requestKeyframe();
  }

  #requestKeyframe(): void {
    const now = Date.now();
    if (now - this.#lastKeyframeRequestAt < MIN_KEYFRAME_REQUEST_INTERVAL_MS) return;
    this.#lastKeyframeRequestAt = now;
    this.#onNeedKeyframe?.();
  }
}

/** werift puts the RTP timestamp on the frame as an untyped extra field. */
function rtpTimestampOf(frame: { [key: string]: unknown }): number {
  return typeof frame['timestamp'] === 'number' ? frame['timestamp'] : 0;
}

/** True when an Annex-B access unit holds an IDR slice. */
export function containsH264Idr(annexB: Buffer): boolean {
  for (let i = 0; i + 3 < annexB.length; i++) {
    if (annexB[i] === 0 && annexB[i + 1] === 0 && annexB[i + 2] === 1) {
      if ((annexB[i + 3] & 0x1f) === H264_NAL_IDR) return true;
      i += 2;
    }
  }
  return false;
}
