import { RTCRtpSender, RtpPacket, milliTime, type MediaStreamTrack } from 'werift';
import { buildExtensions, ntpNow, uint32Add, type ExtensionSource } from './rtp-send-extensions.js';
import { sendSrtp, weriftDtlsSendRtp, type DtlsInternals } from './srtp-datagram-send.js';
import { checkPatchTargets } from './werift-patch-guard.js';

/*
 * werift 0.24's send path makes ~8.5 KB of garbage per RTP packet (~11 KB with the three header
 * extensions a browser negotiates): the track's event starts an async step, the sender's
 * subscriber and sendRtp are async, then four more async functions down to the socket; every
 * 32-bit add goes through BigInt; the NTP time goes through a split decimal string; the
 * extensions through a generic Buffer writer; and the bandwidth estimator sorts the stringified
 * keys of a fresh object. The young-generation GC that garbage feeds pauses the 20 ms reply-audio
 * clock. Measured in-process against a peer in another process (medians of 5 runs of 20 000
 * packets): server reply audio with extensions 41 → 32.5 µs of main thread a packet, 11.2 → 3.7 KB,
 * 15 → 5 scavenges; client mic 35.5 → 28.5 µs, 8.6 → 2.6 KB; client VP8 42.5 → 35 µs,
 * 9.2 → 3.3 KB. (The largest parts left are SRTP, ~7 µs, and the UDP send itself, ~4.5 µs.)
 *
 * fastSendRtp does the same steps in the same order, synchronously: the same header rewrite and
 * extensions (rtp-send-extensions.ts), the same statistics, the same SRTP call and socket.send
 * (srtp-datagram-send.ts), and returns a resolved promise. RED, a replaced transport method and
 * (inside sendSrtp) anything but plain UDP go to werift's code. One difference, by design: werift
 * reads the transport-wide sequence number for its send-side bandwidth estimator after its
 * awaits, so packets written back to back all record the last one's; here each records its own.
 * Nothing in this project reads that estimator, and for one packet per tick — the server's reply
 * audio — both are the same. test/unit/werift-send-fast-paths.test.ts sends the same packets
 * through werift's path and this one and compares every datagram byte and every counter.
 */

type SentInfo = { wideSeq: number; size: number; sendingAtMs: number; sentAtMs: number };
type SentInfos = { sentInfos: Record<number, SentInfo> };
type Bwe = SentInfos & { rtpPacketSent(this: SentInfos, sentInfo: SentInfo): void };

interface SenderInternals extends ExtensionSource {
  dtlsTransport: DtlsInternals;
  codec?: { payloadType: number };
  ssrc: number;
  timestampOffset: number;
  seqOffset: number;
  timestamp?: number;
  sequenceNumber?: number;
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  octetCount: number;
  headerBytesSent: number;
  packetCount: number;
  rtpCache: RtpPacket[];
  redRedundantPayloadType?: number;
  rtcpRunning: boolean;
  stopped: boolean;
  runRtcp(): Promise<void>;
  sendRtp(rtp: RtpPacket | Buffer): Promise<void>;
  registerTrack(track: MediaStreamTrack): void;
  senderBWE: Bwe;
}

const RTP_HISTORY_SIZE = 128; // werift's rtpCache size
const RESOLVED = Promise.resolve();

const senderPrototype = RTCRtpSender.prototype as unknown as SenderInternals;
/** The (unexported) SenderBandwidthEstimator's prototype, reached through a throwaway sender. */
const bwePrototype = Object.getPrototypeOf(new RTCRtpSender('audio').senderBWE) as Bwe;

/** werift's originals, kept for fallbacks and the equivalence test. */
export const weriftSendMethods = {
  sendRtp: senderPrototype.sendRtp,
  registerTrack: senderPrototype.registerTrack,
  runRtcp: senderPrototype.runRtcp,
  rtpPacketSent: bwePrototype.rtpPacketSent,
};

/**
 * werift's SenderBandwidthEstimator.rtpPacketSent: deletes the entries below this sequence number
 * among Number(key) of the info's own keys (after sorting them as strings: ~1 KB a packet), then
 * stores the info. The order of deletions does not matter.
 */
export function rtpPacketSent(this: SentInfos, sentInfo: SentInfo): void {
  const keys = Object.keys(sentInfo);
  for (let i = 0; i < keys.length; i++) {
    const seq = Number(keys[i]);
    if (seq < sentInfo.wideSeq) delete this.sentInfos[seq];
  }
  this.sentInfos[sentInfo.wideSeq] = sentInfo;
}

/** What werift's sendRtp does once the packet is out. */
function afterSend(sender: SenderInternals, size: number): void {
  // werift calls runRtcp() on every packet; it returns at once while its loop runs.
  if (sender.runRtcp !== weriftSendMethods.runRtcp || !(sender.rtcpRunning || sender.stopped)) void sender.runRtcp();
  const now = milliTime();
  const info: SentInfo = { wideSeq: sender.dtlsTransport.transportSequenceNumber, size, sendingAtMs: now, sentAtMs: now };
  const bwe = sender.senderBWE;
  // The info's keys are not numbers, so rtpPacketSent deletes nothing: store it directly.
  if (bwe.rtpPacketSent === rtpPacketSent) bwe.sentInfos[info.wideSeq] = info;
  else bwe.rtpPacketSent(info);
}

/** RTCRtpSender.prototype.sendRtp, synchronous (see the top of this file). */
export function fastSendRtp(this: SenderInternals, rtp: RtpPacket | Buffer): Promise<void> {
  try {
    const dtls = this.dtlsTransport;
    if (dtls.state !== 'connected' || !this.codec) return RESOLVED;
    if (this.redRedundantPayloadType || dtls.sendRtp !== weriftDtlsSendRtp) return weriftSendMethods.sendRtp.call(this, rtp);
    const packet = Buffer.isBuffer(rtp) ? RtpPacket.deSerialize(rtp) : rtp;
    const { header, payload } = packet;
    header.ssrc = this.ssrc;
    header.payloadType = this.codec.payloadType;
    header.timestamp = uint32Add(header.timestamp, this.timestampOffset);
    header.sequenceNumber = (header.sequenceNumber + this.seqOffset) & 0xffff;
    this.timestamp = header.timestamp;
    this.sequenceNumber = header.sequenceNumber;
    const ntp = ntpNow();
    header.extensions = buildExtensions(this, header, ntp);
    this.ntpTimestamp = ntp.value;
    this.rtpTimestamp = header.timestamp;
    this.octetCount += payload.length;
    this.headerBytesSent += header.serializeSize;
    this.packetCount = uint32Add(this.packetCount, 1);
    this.rtpCache[header.sequenceNumber % RTP_HISTORY_SIZE] = packet;
    const size = sendSrtp(dtls, payload, header);
    if (typeof size === 'number') {
      afterSend(this, size);
      return RESOLVED;
    }
    return size.then((sent) => afterSend(this, sent));
  } catch (error) {
    return Promise.reject(error);
  }
}

/*
 * A track's packets reach its sender through werift's Event: execute() calls each subscriber,
 * then starts an async function (a promise, and another for its catch) to await the queuing
 * subscribers, which a track does not have; the sender's subscriber is an async function awaiting
 * sendRtp. For a track given to a sender, both are replaced: execute() skips the async step when
 * there is nothing for it to await, and the subscriber calls sendRtp without awaiting it — a
 * failure is still the same unhandled rejection.
 */
type Subscriber = { execute: (...args: unknown[]) => unknown; id: number };
/** The fields of werift's Event that fastExecute uses. */
export interface EventInternals {
  ended: boolean;
  event: { stack: Subscriber[]; promiseStack: Subscriber[]; eventId: number };
  onerror: (error: unknown) => void;
  execute: (...args: unknown[]) => void;
}

const fastEvents = new WeakSet<EventInternals>();

/** werift's Event.execute, without the async step when there is nothing to await. */
export function fastExecute(event: EventInternals): (...args: unknown[]) => void {
  return (...args: unknown[]) => {
    if (event.ended) return;
    for (const item of event.event.stack) item.execute(...args);
    if (event.event.promiseStack.length === 0) return;
    (async () => {
      for (const item of event.event.promiseStack) await item.execute(...args);
    })().catch((e: unknown) => {
      event.onerror(e);
    });
  };
}

/** RTCRtpSender.prototype.registerTrack: werift's, then its subscriber and the track's execute() replaced. */
export function fastRegisterTrack(this: SenderInternals, track: MediaStreamTrack): void {
  weriftSendMethods.registerTrack.call(this, track);
  const event = track.onReceiveRtp as unknown as EventInternals;
  const stack = event.event.stack;
  const subscriber = stack[stack.length - 1];
  if (subscriber?.id !== event.event.eventId - 1) return; // not what werift 0.24 leaves: keep werift's
  subscriber.execute = (rtp: unknown) => {
    try {
      void this.sendRtp(rtp as RtpPacket);
    } catch (error) {
      void Promise.reject(error); // werift's async subscriber would reject, unhandled
    }
  };
  if (!fastEvents.has(event)) {
    fastEvents.add(event);
    event.execute = fastExecute(event);
  }
}

let installed = false;

/** Makes every werift sender use the send path above. Idempotent. */
export function installWeriftSendFastPaths(): void {
  if (installed) return;
  // The fields fastSendRtp reads and writes, on a throwaway sender: a renamed one would send zeros.
  const probe = new RTCRtpSender('audio') as unknown as Record<string, unknown>;
  const fields = ['ssrc', 'timestampOffset', 'seqOffset', 'ntpTimestamp', 'rtpTimestamp', 'octetCount', 'packetCount', 'headerBytesSent', 'rtpCache', 'stopped', 'rtcpRunning', 'senderBWE', 'headerExtensions'];
  checkPatchTargets(
    'werift-send-fast-paths',
    [
      { name: 'RTCRtpSender.prototype.sendRtp', current: senderPrototype.sendRtp, shape: '36ee877c17d4f3b0' },
      { name: 'RTCRtpSender.prototype.registerTrack', current: senderPrototype.registerTrack, shape: 'a773b8b383958b3f' },
      { name: 'SenderBandwidthEstimator.prototype.rtpPacketSent', current: bwePrototype.rtpPacketSent, shape: '1ed44e4579bfaf8b' },
      { name: 'RTCDtlsTransport.prototype.sendRtp', current: weriftDtlsSendRtp, shape: '7723c2ae3eeb37aa' },
    ],
    Object.fromEntries(fields.map((field) => [`RTCRtpSender.${field}`, field in probe ? true : undefined])),
  );
  installed = true;
  senderPrototype.sendRtp = fastSendRtp;
  senderPrototype.registerTrack = fastRegisterTrack;
  bwePrototype.rtpPacketSent = rtpPacketSent;
}
