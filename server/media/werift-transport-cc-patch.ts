import { RTCRtpReceiver } from 'werift';
import { TransportCcFeedback } from './transport-cc-feedback.js';
import { checkPatchTargets } from './werift-patch-guard.js';

/*
 * Named patch "transport-cc feedback per transport" (patches/09-12), for werift 0.24.4 only.
 *
 * werift 0.24 gives every RTCRtpReceiver its own ReceiverTWCC. Against Chrome that feedback made
 * the bandwidth estimate collapse (measured: estimate 83 kbit/s, camera 640×480 at ~4 fps and
 * ~40 kbit/s; scripts/video-bitrate-vs-werift.ts): transport-wide sequence numbers are shared by
 * the audio and video streams, yet each receiver reports the whole range between its own packets
 * as received; gaps are never reported lost; the first delta is taken from a time other than
 * the reference time it sends (floored to 64 ms); a feedback whose length is not a multiple of
 * 4 bytes has its length field rounded down, cutting its last deltas; and the 100 ms timer never
 * runs (it checks its flag before the flag is set), so feedback goes out only every 11 packets.
 *
 * Replaced: RTCRtpReceiver.prototype.setupTWCC. Each receiver's `receiverTWCC` becomes a handle on
 * one TransportCcFeedback per DTLS transport (transport-cc-feedback.ts), flushed every 50 ms.
 * handleRTP (werift's) keeps calling `receiverTWCC.handleTWCC(sequenceNumber)`; stop() sets
 * `receiverTWCC.twccRunning = false`, which detaches the receiver; the timer ends with the last.
 */

const FLUSH_INTERVAL_MS = 50;

interface DtlsTransportLike {
  state: string;
  sendRtcp(packets: { serialize(): Buffer }[]): Promise<unknown>;
}
interface ReceiverInternals {
  twccEnabled: unknown;
  receiverTWCC?: unknown;
  dtlsTransport: DtlsTransportLike;
  rtcpSsrc: number;
  setupTWCC(mediaSourceSsrc: number): void;
  handleRTP(...args: unknown[]): void;
  stop(): void;
}

/** One transport's feedback and the receivers feeding it. */
class TransportFeedbackLoop {
  readonly feedback: TransportCcFeedback;
  private readonly receivers = new Set<object>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly dtls: DtlsTransportLike, senderSsrc: number) {
    this.feedback = new TransportCcFeedback({
      senderSsrc,
      send: (packet) => {
        dtls.sendRtcp([{ serialize: () => packet }]).catch(() => undefined);
      },
    });
  }

  attach(receiver: object): void {
    this.receivers.add(receiver);
    this.timer ??= setInterval(() => this.tick(), FLUSH_INTERVAL_MS).unref();
  }

  detach(receiver: object): void {
    this.receivers.delete(receiver);
    if (this.receivers.size === 0) this.stop();
  }

  private tick(): void {
    if (this.dtls.state === 'closed' || this.dtls.state === 'failed') return this.stop();
    if (this.dtls.state === 'connected') this.feedback.flush();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    loops.delete(this.dtls);
  }
}

const loops = new WeakMap<DtlsTransportLike, TransportFeedbackLoop>();

/** What a receiver's `receiverTWCC` is once patched: werift's handleRTP and stop() use these two. */
export class ReceiverFeedbackHandle {
  private mediaSsrc: number;
  constructor(private readonly loop: TransportFeedbackLoop, mediaSourceSsrc: number) {
    this.mediaSsrc = mediaSourceSsrc;
    loop.attach(this);
  }
  handleTWCC(transportSequenceNumber: unknown): void {
    if (typeof transportSequenceNumber === 'number') this.loop.feedback.onPacket(transportSequenceNumber, this.mediaSsrc);
  }
  set twccRunning(running: boolean) {
    if (!running) this.loop.detach(this);
  }
  get twccRunning(): boolean {
    return true;
  }
}

export function patchedSetupTWCC(this: ReceiverInternals, mediaSourceSsrc: number): void {
  if (!this.twccEnabled || this.receiverTWCC) return;
  const dtls = this.dtlsTransport;
  let loop = loops.get(dtls);
  if (!loop) {
    loop = new TransportFeedbackLoop(dtls, this.rtcpSsrc);
    loops.set(dtls, loop);
  }
  this.receiverTWCC = new ReceiverFeedbackHandle(loop, mediaSourceSsrc);
}

const prototype = RTCRtpReceiver.prototype as unknown as ReceiverInternals;
export const weriftSetupTWCC = prototype.setupTWCC;
const weriftHandleRtp = prototype.handleRTP;
const weriftStop = prototype.stop;
let installed = false;

/** Installs the patch, or throws if werift is not the version and shape it was written for. */
export function installTransportCcPatch(): void {
  if (installed) return;
  checkPatchTargets('werift-transport-cc-patch', [
    { name: 'RTCRtpReceiver.prototype.setupTWCC', current: weriftSetupTWCC, shape: '7c7ef0fbc96ad930' },
    // Not replaced, but relied on: they call receiverTWCC.handleTWCC() and set twccRunning = false.
    { name: 'RTCRtpReceiver.prototype.handleRTP', current: weriftHandleRtp, shape: 'e8fb3914a5e1075f' },
    { name: 'RTCRtpReceiver.prototype.stop', current: weriftStop, shape: 'e95289f109127d24' },
  ]);
  installed = true;
  prototype.setupTWCC = patchedSetupTWCC;
}
