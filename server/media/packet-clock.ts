import { performance } from 'node:perf_hooks';

/**
 * Called once per tick. `tickIndex` counts slots since the clock started (it jumps when ticks
 * were skipped); `scheduledAtMs` is the slot's time on the performance.now() clock;
 * `lateByMs` is how far after that slot the tick actually ran; `skippedTicks` is how many slots
 * before this one were dropped because the event loop was blocked.
 */
export type PacketClockListener = (
  tickIndex: number,
  scheduledAtMs: number,
  lateByMs: number,
  skippedTicks: number,
) => void;

export interface PacketClockOptions {
  /** Tick period; 20 ms (one Opus frame) unless a test wants something else. */
  periodMs?: number;
  /** Where a throwing listener's error goes (the other listeners and the clock carry on). */
  onListenerError?: (error: unknown) => void;
}

/**
 * Node timers fire on whole milliseconds of libuv's loop time, so a timer can run up to ~1 ms
 * before its fractional target; such a tick still belongs to its slot.
 */
const EARLY_TOLERANCE_MS = 1;

/**
 * One drift-free tick source for every sender: slot n is at start + n·period, and each timeout is
 * recomputed from performance.now(), so lateness never accumulates. One timer serves all
 * subscribers; it exists only while someone is subscribed.
 */
export class PacketClock {
  readonly periodMs: number;
  private readonly listeners = new Set<PacketClockListener>();
  private readonly onListenerError: (error: unknown) => void;
  private timer: NodeJS.Timeout | undefined;
  private startedAtMs = 0;
  private nextTickIndex = 0;
  private skippedTotal = 0;

  constructor(options: PacketClockOptions = {}) {
    this.periodMs = options.periodMs ?? 20;
    if (!(this.periodMs > 0)) throw new Error(`PacketClock period must be positive, got ${this.periodMs}`);
    this.onListenerError =
      options.onListenerError ?? ((error) => console.error('packet clock listener failed:', error));
  }

  /** Adds a listener (starting the clock if it was idle); returns the function that removes it. */
  subscribe(listener: PacketClockListener): () => void {
    this.listeners.add(listener);
    if (this.timer === undefined) this.start();
    return () => {
      if (this.listeners.delete(listener) && this.listeners.size === 0) this.stop();
    };
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  /** True while a timer is pending (only when there are subscribers). */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Ticks dropped (not burst) after event-loop stalls, since this clock was created. */
  get skippedTicks(): number {
    return this.skippedTotal;
  }

  private start(): void {
    this.startedAtMs = performance.now();
    this.nextTickIndex = 0;
    this.schedule();
  }

  private stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    const dueAtMs = this.startedAtMs + this.nextTickIndex * this.periodMs;
    this.timer = setTimeout(this.onTimer, Math.max(0, dueAtMs - performance.now()));
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    const nowMs = performance.now();
    const dueAtMs = this.startedAtMs + this.nextTickIndex * this.periodMs;
    if (nowMs < dueAtMs - EARLY_TOLERANCE_MS) {
      this.schedule();
      return;
    }
    // After a stall, run only the current slot: bursting missed ticks would send a clump of
    // packets that the receiver's jitter buffer would have to absorb.
    const currentSlot = Math.floor((nowMs - this.startedAtMs) / this.periodMs);
    const tickIndex = Math.max(this.nextTickIndex, currentSlot);
    const skipped = tickIndex - this.nextTickIndex;
    this.skippedTotal += skipped;
    const scheduledAtMs = this.startedAtMs + tickIndex * this.periodMs;
    const lateByMs = nowMs - scheduledAtMs;
    this.nextTickIndex = tickIndex + 1;
    for (const listener of this.listeners) {
      try {
        listener(tickIndex, scheduledAtMs, lateByMs, skipped);
      } catch (error) {
        this.onListenerError(error);
      }
    }
    // A listener may have unsubscribed the last listener (stop) or re-subscribed (start).
    if (this.listeners.size > 0 && this.timer === undefined) this.schedule();
  };
}

/** The process-wide 20 ms clock all outgoing audio senders share. */
export const sharedPacketClock: PacketClock = new PacketClock();
