import { RTCRtpCodecParameters, RTCRtpReceiver, type RTCPFB, type RtpHeader, type RtpPacket } from 'werift';
import { DepacketizeBase, type DepacketizerInput } from 'werift/nonstandard';
import { checkPatchTargets } from './werift-patch-guard.js';

/*
 * werift 0.24's RTCRtpReceiver.handleRTP, run for every received RTP packet, asks
 * `twccEnabled` (until TWCC is set up: every packet when the sender did not offer transport-cc)
 * and, for video, `nackEnabled`. Each builds `codecArray` (Object.values of the payload-type-keyed
 * codecs, sorted) only to look at the first codec's RTCP feedback: ~0.6-0.9 µs a call, most of it
 * enumerating the codecs object (scanning it in place is no faster). It also reads `codec.name`
 * twice, which splits the MIME type each time.
 * So the first codec is remembered per receiver and forgotten whenever prepareReceive (werift's
 * only writer of `codecs`, run on every remote description) runs or the codecs object is swapped;
 * its feedback list is still read on every call, so edits to it show at once. (A write straight
 * into the private `codecs` object, which neither werift nor we make, would not be seen.) `name`
 * remembers the MIME-type split. Measured: ~0.05 µs a getter call; handleRTP ~5 → ~2 µs a video
 * packet. test/unit/werift-receive-fast-paths.test.ts checks these and the depacketizer patch
 * below against werift's originals, across renegotiation.
 */

type Codecs = Record<string, RTCRtpCodecParameters | undefined>;
type FeedbackGetter = (this: RTCRtpReceiver) => RTCPFB | undefined;
type ReceiverInternals = { codecs: Codecs; codecArray: RTCRtpCodecParameters[]; prepareReceive(params: unknown): void };

/** codecArray[0] of a receiver, and what it was computed from. */
interface FirstCodec {
  codecs: Codecs;
  codec: RTCRtpCodecParameters | undefined;
  payloadType: number | undefined;
}

const firstCodecs = new WeakMap<RTCRtpReceiver, FirstCodec>();

function firstCodec(receiver: RTCRtpReceiver): RTCRtpCodecParameters | undefined {
  const internals = receiver as unknown as ReceiverInternals;
  const codecs = internals.codecs;
  const cached = firstCodecs.get(receiver);
  if (cached && cached.codecs === codecs && cached.codec?.payloadType === cached.payloadType) return cached.codec;
  const codec = internals.codecArray[0];
  firstCodecs.set(receiver, { codecs, codec, payloadType: codec?.payloadType });
  return codec;
}

function feedbackGetter(type: string): FeedbackGetter {
  return function (this: RTCRtpReceiver) {
    const codec = firstCodec(this);
    if (codec === undefined) return undefined;
    const feedback = codec.rtcpFeedback;
    for (let i = 0; i < feedback.length; i++) {
      const entry = feedback[i]!;
      if (entry.type === type) return entry;
    }
    return undefined;
  };
}

function originalGetter<T>(prototype: object, name: string): (this: T) => unknown {
  const getter = Object.getOwnPropertyDescriptor(prototype, name)?.get;
  if (!getter) throw new Error(`werift changed: ${name} is no longer a getter; review werift-receive-fast-paths.ts`);
  return getter;
}

function replaceGetter(prototype: object, name: string, get: () => unknown): void {
  const descriptor = Object.getOwnPropertyDescriptor(prototype, name)!;
  Object.defineProperty(prototype, name, { ...descriptor, get });
}

/** werift's own getters, kept for the equivalence test. */
export const weriftGetters = {
  nackEnabled: originalGetter<RTCRtpReceiver>(RTCRtpReceiver.prototype, 'nackEnabled') as FeedbackGetter,
  twccEnabled: originalGetter<RTCRtpReceiver>(RTCRtpReceiver.prototype, 'twccEnabled') as FeedbackGetter,
  name: originalGetter<RTCRtpCodecParameters>(RTCRtpCodecParameters.prototype, 'name') as (this: RTCRtpCodecParameters) => string,
};

export const fastNackEnabled = feedbackGetter('nack');
export const fastTwccEnabled = feedbackGetter('transport-cc');

/** MIME type → name. Bounded: a remote SDP chooses the MIME types. */
const names = new Map<string, string>();
const MAX_NAMES = 256;

export function fastCodecName(this: RTCRtpCodecParameters): string {
  const mimeType: unknown = this.mimeType;
  if (typeof mimeType !== 'string') return weriftGetters.name.call(this); // werift throws or coerces
  let name = names.get(mimeType);
  if (name === undefined && !names.has(mimeType)) {
    name = mimeType.split('/')[1]!; // undefined without a '/', as werift returns
    if (names.size < MAX_NAMES) names.set(mimeType, name);
  }
  return name as string;
}

/*
 * The depacketizer's checkFinalPacket runs for every video packet and, to find a frame's last
 * packet, copies its whole buffer into [index, packet] pairs (enumerate) each time: quadratic
 * allocation per frame, ~1 µs a packet on 640x480 VP8. For the usual packet — the one after the
 * last — this does the same steps without the copy, calling isFinalPacketInSequence on the same
 * headers in the same order; the first packet, gaps and reordering go to werift's own code.
 * Measured with the fast VP8 parser in place: ~3.2 → ~2.1 µs a packet through the depacketizer.
 */
interface DepacketizerInternals {
  options: { isFinalPacketInSequence?: (header: RtpHeader) => boolean };
  lastSeqNum?: number;
  rtpBuffer: { rtp: RtpPacket; time?: number }[];
}
type CheckFinalPacket = (this: DepacketizerInternals, input: DepacketizerInput) => boolean;

const depacketizerPrototype = DepacketizeBase.prototype as unknown as { checkFinalPacket: CheckFinalPacket };
export const weriftCheckFinalPacket = depacketizerPrototype.checkFinalPacket;

export function fastCheckFinalPacket(this: DepacketizerInternals, input: DepacketizerInput): boolean {
  const { rtp, time } = input;
  const { options, lastSeqNum } = this;
  if (!options.isFinalPacketInSequence || rtp === undefined || lastSeqNum === undefined || rtp.header.sequenceNumber !== ((lastSeqNum + 1) & 0xffff)) {
    return weriftCheckFinalPacket.call(this, input);
  }
  const buffer = this.rtpBuffer;
  buffer.push({ rtp, time });
  this.lastSeqNum = rtp.header.sequenceNumber;
  for (let i = 0; i < buffer.length; i++) {
    if (options.isFinalPacketInSequence(buffer[i]!.rtp.header)) return true;
  }
  return false;
}

let installed = false;

/** Makes every werift receiver, codec and depacketizer use the replacements above. */
export function installWeriftReceiveFastPaths(): void {
  if (installed) return;
  const prototype = RTCRtpReceiver.prototype as unknown as ReceiverInternals;
  checkPatchTargets('werift-receive-fast-paths', [
    { name: 'RTCRtpReceiver.prototype.prepareReceive', current: prototype.prepareReceive, shape: '253f9f0daeabe7a3' },
    { name: 'RTCRtpReceiver.prototype.nackEnabled', current: weriftGetters.nackEnabled, shape: '8a5b9303626492b2' },
    { name: 'RTCRtpReceiver.prototype.twccEnabled', current: weriftGetters.twccEnabled, shape: 'de54fd8670446491' },
    { name: 'RTCRtpCodecParameters.prototype.name', current: weriftGetters.name, shape: '5d6f193cb8a3db5c' },
    { name: 'DepacketizeBase.prototype.checkFinalPacket', current: depacketizerPrototype.checkFinalPacket, shape: '181731731e41f791' },
  ]);
  installed = true;
  const prepareReceive = prototype.prepareReceive;
  prototype.prepareReceive = function (this: RTCRtpReceiver, params: unknown) {
    try {
      prepareReceive.call(this, params);
    } finally {
      firstCodecs.delete(this);
    }
  };
  replaceGetter(RTCRtpReceiver.prototype, 'nackEnabled', fastNackEnabled);
  replaceGetter(RTCRtpReceiver.prototype, 'twccEnabled', fastTwccEnabled);
  replaceGetter(RTCRtpCodecParameters.prototype, 'name', fastCodecName);
  depacketizerPrototype.checkFinalPacket = fastCheckFinalPacket;
}
