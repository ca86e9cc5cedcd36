import type { RtpPacket } from 'werift';

/**
 * Puts incoming RTP back in sequence-number order, waiting at most `latencyMs` (of media time)
 * for a missing packet before giving up on it.
 *
 * Written instead of using werift's JitterBufferCallback: in werift 0.24 (the last release for
 * Node 20) a timed-out gap makes it emit the newest packet and silently drop every packet queued
 * between the gap and that one (losing seq 5 of 0..19 at 100 ms latency also lost 7..11), which
 * turns each lost audio packet into ~120 ms of silence and each lost video packet into several
 * lost frames.
 */
export class RtpReorderBuffer {
  readonly #latencyTicks: number;
  readonly #onPacket: (rtp: RtpPacket) => void;
  readonly #onLoss?: (missingPackets: number) => void;
  #pending = new Map<number, RtpPacket>();
  #expectedSequence?: number;

  constructor(options: {
    clockRate: number;
    latencyMs: number;
    onPacket: (rtp: RtpPacket) => void;
    onLoss?: (missingPackets: number) => void;
  }) {
    this.#latencyTicks = (options.clockRate * options.latencyMs) / 1000;
    this.#onPacket = options.onPacket;
    this.#onLoss = options.onLoss;
  }

  push(rtp: RtpPacket): void {
    const sequence = rtp.header.sequenceNumber;
    this.#expectedSequence ??= sequence;
    const ahead = sequenceDistance(this.#expectedSequence, sequence);
    if (ahead < 0) return; // duplicate, or too late: its slot was given up
    if (ahead > MAX_AHEAD) {
      // A jump this big is a sender restart, not loss: start over from here.
      this.flush();
      this.#expectedSequence = sequence;
    }
    this.#pending.set(sequence, rtp);
    this.#release();
    this.#giveUpOnStaleGaps(rtp.header.timestamp);
  }

  /** Emits everything still waiting, in order, and forgets the sequence position. */
  flush(): void {
    const waiting = [...this.#pending.values()];
    const origin = this.#expectedSequence ?? 0;
    waiting.sort((a, b) => sequenceDistance(origin, a.header.sequenceNumber) - sequenceDistance(origin, b.header.sequenceNumber));
    this.#pending.clear();
    this.#expectedSequence = undefined;
    for (const rtp of waiting) this.#onPacket(rtp);
  }

  #release(): void {
    let next = this.#pending.get(this.#expectedSequence!);
    while (next) {
      this.#pending.delete(this.#expectedSequence!);
      this.#expectedSequence = (this.#expectedSequence! + 1) & 0xffff;
      this.#onPacket(next);
      next = this.#pending.get(this.#expectedSequence);
    }
  }

  /** Skips the gap before the oldest waiting packet once it has waited longer than the latency. */
  #giveUpOnStaleGaps(newestTimestamp: number): void {
    while (this.#pending.size > 0) {
      let oldest: RtpPacket | undefined;
      let oldestAhead = Infinity;
      for (const [sequence, rtp] of this.#pending) {
        const ahead = sequenceDistance(this.#expectedSequence!, sequence);
        if (ahead < oldestAhead) [oldest, oldestAhead] = [rtp, ahead];
      }
      const waitedTicks = (newestTimestamp - oldest!.header.timestamp) | 0; // wraps at 2^32
      if (waitedTicks <= this.#latencyTicks) return;
      this.#onLoss?.(oldestAhead);
      this.#expectedSequence = oldest!.header.sequenceNumber;
      this.#release();
    }
  }
}

const MAX_AHEAD = 3000;

/** How far `sequence` is ahead of `from`, in -32768..32767 (RTP sequence numbers wrap at 2^16). */
function sequenceDistance(from: number, sequence: number): number {
  return (((sequence - from) & 0xffff) << 16) >> 16;
}
