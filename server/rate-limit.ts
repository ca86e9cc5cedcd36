/** A token bucket: `ratePerSecond` on average, bursts up to `burst`. */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.updatedAt = now();
  }

  /** Takes one token; false (and nothing taken) when the bucket is empty. */
  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond);
    this.updatedAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Calls open in this process, in total and per client address; each slot is released once. */
export class CallLimits {
  private total = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(private readonly limits: { maxCalls: number; maxCallsPerAddress: number }) {}

  /** A release function, or the reason (in words) the call is refused. */
  acquire(address: string): { release(): void } | { refused: string } {
    const mine = this.byAddress.get(address) ?? 0;
    if (this.total >= this.limits.maxCalls) {
      return { refused: `The server is serving its limit of ${this.limits.maxCalls} calls; please try again in a while.` };
    }
    if (mine >= this.limits.maxCallsPerAddress) {
      return { refused: `Your address already has ${this.limits.maxCallsPerAddress} calls open; close one to start another.` };
    }
    this.total++;
    this.byAddress.set(address, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const left = (this.byAddress.get(address) ?? 1) - 1;
        if (left > 0) this.byAddress.set(address, left);
        else this.byAddress.delete(address);
      },
    };
  }

  get open(): number {
    return this.total;
  }
}
