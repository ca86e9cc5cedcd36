/**
 * Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01,
 * RTCP RTPFB FMT=15): which transport-wide sequence numbers arrived and when, so the browser's
 * bandwidth estimator (Chrome's GCC) can raise its send rate. One generator serves a whole
 * transport: the sequence numbers are shared by every RTP stream on it (audio and video).
 *
 * Written by hand: werift 0.24's ReceiverTWCC (one per receiver) is what starved Chrome's encoder
 * (see werift-transport-cc-patch.ts), and no npm package builds this message.
 *
 * What it reports, per feedback: every sequence number from the first not yet reported to the
 * highest received, each as received (with its arrival delta) or not received; the reference
 * time in 64 ms units; deltas in 250 µs units, the first from the reference time; chunks
 * run-length or 2-bit status vectors; zero padding to a 32-bit boundary. A packet that arrives
 * after its sequence number was reported lost is not reported again (the estimator has moved on).
 */

const STATUS_NOT_RECEIVED = 0;
const STATUS_SMALL_DELTA = 1;
const STATUS_LARGE_DELTA = 2;
const DELTA_TICK_US = 250;
const REFERENCE_TICK_US = 64_000;
const MAX_RUN_LENGTH = 0x1fff;
const VECTOR_SYMBOLS = 7; // 2-bit symbols in a status vector chunk
/** More than this many statuses in one feedback is split (keeps a packet well under the MTU). */
const MAX_STATUSES_PER_FEEDBACK = 1000;

export interface TransportCcFeedbackOptions {
  /** SSRC this side sends RTCP as. */
  senderSsrc: number;
  /** Sends one serialized RTCP packet. */
  send(packet: Buffer): void;
  /** Microseconds, monotonic. */
  nowUs?: () => number;
}

const defaultNowUs = () => Number(process.hrtime.bigint() / 1000n);

/** Serialized feedback for statuses of consecutive sequence numbers from `baseSeq`. */
export function encodeTransportCcFeedback(fields: {
  senderSsrc: number;
  mediaSsrc: number;
  baseSeq: number;
  /** Arrival time in µs per sequence number from baseSeq, undefined = not received. */
  arrivalsUs: ReadonlyArray<number | undefined>;
  /** 24-bit reference time in 64 ms units; arrival deltas start from referenceTime × 64 ms. */
  referenceTime: number;
  feedbackCount: number;
}): Buffer {
  const { arrivalsUs } = fields;
  const statuses: number[] = [];
  const deltas: number[] = [];
  let previousUs = fields.referenceTime * REFERENCE_TICK_US;
  for (const arrival of arrivalsUs) {
    if (arrival === undefined) {
      statuses.push(STATUS_NOT_RECEIVED);
      continue;
    }
    const ticks = Math.round((arrival - previousUs) / DELTA_TICK_US);
    if (ticks < -0x8000 || ticks > 0x7fff) throw new RangeError(`arrival delta ${ticks} ticks does not fit in 16 bits`);
    previousUs += ticks * DELTA_TICK_US; // deltas accumulate on the receiver's rounding, as the sender sums them
    statuses.push(ticks >= 0 && ticks <= 0xff ? STATUS_SMALL_DELTA : STATUS_LARGE_DELTA);
    deltas.push(ticks);
  }
  const chunks = encodeChunks(statuses);
  const deltaBytes = deltas.reduce((sum, ticks) => sum + (ticks >= 0 && ticks <= 0xff ? 1 : 2), 0);
  const unpadded = 4 + 16 + chunks.length * 2 + deltaBytes;
  const length = Math.ceil(unpadded / 4) * 4;
  const packet = Buffer.alloc(length); // the padding stays zero
  packet[0] = 0x80 | 15; // V=2, P=0, FMT=15
  packet[1] = 205; // RTPFB
  packet.writeUInt16BE(length / 4 - 1, 2);
  packet.writeUInt32BE(fields.senderSsrc >>> 0, 4);
  packet.writeUInt32BE(fields.mediaSsrc >>> 0, 8);
  packet.writeUInt16BE(fields.baseSeq & 0xffff, 12);
  packet.writeUInt16BE(statuses.length, 14);
  packet.writeUIntBE(fields.referenceTime & 0xffffff, 16, 3);
  packet[19] = fields.feedbackCount & 0xff;
  let offset = 20;
  for (const chunk of chunks) {
    packet.writeUInt16BE(chunk, offset);
    offset += 2;
  }
  for (const ticks of deltas) {
    if (ticks >= 0 && ticks <= 0xff) packet[offset++] = ticks;
    else {
      packet.writeInt16BE(ticks, offset);
      offset += 2;
    }
  }
  return packet;
}

/** Run-length chunks for runs of 7 or more equal statuses, 2-bit status vectors between them. */
export function encodeChunks(statuses: readonly number[]): number[] {
  const chunks: number[] = [];
  let i = 0;
  while (i < statuses.length) {
    let run = 1;
    while (i + run < statuses.length && statuses[i + run] === statuses[i] && run < MAX_RUN_LENGTH) run++;
    if (run >= VECTOR_SYMBOLS || i + run === statuses.length) {
      chunks.push((statuses[i]! << 13) | run); // T=0, S, run length
      i += run;
      continue;
    }
    let chunk = 0x8000 | 0x4000; // T=1, S=1: seven 2-bit symbols
    for (let k = 0; k < VECTOR_SYMBOLS; k++) {
      const status = i + k < statuses.length ? statuses[i + k]! : STATUS_NOT_RECEIVED;
      chunk |= status << (2 * (VECTOR_SYMBOLS - 1 - k));
    }
    chunks.push(chunk);
    i += VECTOR_SYMBOLS; // symbols past the status count are ignored by the reader
  }
  return chunks;
}

/** Collects arrivals of one transport and sends feedback for them on `flush()`. */
export class TransportCcFeedback {
  private readonly nowUs: () => number;
  /** Unwrapped sequence number → arrival µs, for those not yet reported. */
  private arrivals = new Map<number, number>();
  private nextToReport: number | undefined;
  private highest: number | undefined;
  private feedbackCount = 0;
  private mediaSsrc = 0;

  constructor(private readonly options: TransportCcFeedbackOptions) {
    this.nowUs = options.nowUs ?? defaultNowUs;
  }

  /** Notes one RTP packet's transport-wide sequence number (16 bits) as arrived now. */
  onPacket(sequenceNumber: number, mediaSsrc: number, arrivalUs = this.nowUs()): void {
    this.mediaSsrc = mediaSsrc;
    const seq = this.unwrap(sequenceNumber & 0xffff);
    if (this.nextToReport === undefined) this.nextToReport = seq;
    if (seq < this.nextToReport || this.arrivals.has(seq)) return; // already reported, or a duplicate
    this.arrivals.set(seq, arrivalUs);
    if (this.highest === undefined || seq > this.highest) this.highest = seq;
  }

  /** Sends feedback for everything up to the highest sequence number received. */
  flush(): void {
    while (this.nextToReport !== undefined && this.highest !== undefined && this.nextToReport <= this.highest) {
      const base = this.nextToReport;
      const end = Math.min(this.highest, base + MAX_STATUSES_PER_FEEDBACK - 1);
      const arrivalsUs: (number | undefined)[] = [];
      let firstArrival: number | undefined;
      for (let seq = base; seq <= end; seq++) {
        const arrival = this.arrivals.get(seq);
        this.arrivals.delete(seq);
        arrivalsUs.push(arrival);
        if (firstArrival === undefined && arrival !== undefined) firstArrival = arrival;
      }
      this.nextToReport = end + 1;
      if (firstArrival === undefined) continue; // nothing received in this stretch: nothing to time
      this.options.send(
        encodeTransportCcFeedback({
          senderSsrc: this.options.senderSsrc,
          mediaSsrc: this.mediaSsrc,
          baseSeq: base,
          arrivalsUs: this.boundedDeltas(arrivalsUs, firstArrival),
          referenceTime: Math.floor(firstArrival / REFERENCE_TICK_US),
          feedbackCount: this.feedbackCount,
        }),
      );
      this.feedbackCount = (this.feedbackCount + 1) & 0xff;
    }
  }

  /** Arrivals whose delta from the one before would not fit 16 bits are dropped (reported lost). */
  private boundedDeltas(arrivalsUs: (number | undefined)[], firstArrival: number): (number | undefined)[] {
    let previous = Math.floor(firstArrival / REFERENCE_TICK_US) * REFERENCE_TICK_US;
    return arrivalsUs.map((arrival) => {
      if (arrival === undefined) return undefined;
      const ticks = Math.round((arrival - previous) / DELTA_TICK_US);
      if (ticks < -0x8000 || ticks > 0x7fff) return undefined;
      previous += ticks * DELTA_TICK_US;
      return arrival;
    });
  }

  /** 16-bit sequence number → a monotonic count, near the highest seen. */
  private unwrap(sequenceNumber: number): number {
    if (this.highest === undefined) return sequenceNumber;
    const base = this.highest - (this.highest & 0xffff);
    let candidate = base + sequenceNumber;
    if (candidate - this.highest > 0x8000) candidate -= 0x10000;
    else if (this.highest - candidate > 0x8000) candidate += 0x10000;
    return candidate;
  }
}
