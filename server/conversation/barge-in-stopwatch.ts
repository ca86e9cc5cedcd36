import { performance } from 'node:perf_hooks';

export interface BargeInStop {
  /** From the barge-in decision to the first silence packet sent after it. */
  stopMs: number;
  /** Reply packets that still went out after the decision (0 when the stop was immediate). */
  speechPacketsAfter: number;
}

/** Times how fast a barge-in silenced the reply, on the paced sender's own packets. */
export class BargeInStopwatch {
  private decidedAt?: number;
  private speechPacketsAfter = 0;

  decided(now: number = performance.now()): void {
    this.decidedAt = now;
    this.speechPacketsAfter = 0;
  }

  /** For every packet sent; returns the measurement at the first silence after a decision. */
  packetSent(silence: boolean, now: number = performance.now()): BargeInStop | undefined {
    if (this.decidedAt === undefined) return undefined;
    if (!silence) {
      this.speechPacketsAfter++;
      return undefined;
    }
    const stop = { stopMs: Math.round((now - this.decidedAt) * 10) / 10, speechPacketsAfter: this.speechPacketsAfter };
    this.decidedAt = undefined;
    return stop;
  }
}
