import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PacketClock, sharedPacketClock } from '../../server/media/packet-clock.js';

interface Tick {
  index: number;
  scheduledAtMs: number;
  lateByMs: number;
  skipped: number;
  firedAtMs: number;
}

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const pendingTimers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // block the event loop on purpose
  }
}

function recordTicks(clock: PacketClock): { ticks: Tick[]; unsubscribe: () => void } {
  const ticks: Tick[] = [];
  const unsubscribe = clock.subscribe((index, scheduledAtMs, lateByMs, skipped) => {
    ticks.push({ index, scheduledAtMs, lateByMs, skipped, firedAtMs: performance.now() });
  });
  return { ticks, unsubscribe };
}

describe('PacketClock', () => {
  it('ticks on a drift-free 20 ms grid for a second', async () => {
    const clock = new PacketClock();
    const { ticks, unsubscribe } = recordTicks(clock);
    await sleep(1000);
    unsubscribe();

    expect(ticks.length).toBeGreaterThanOrEqual(45);
    expect(ticks.length).toBeLessThanOrEqual(51);
    const first = ticks[0]!;
    const measuredLateMs = ticks.map((tick) => tick.firedAtMs - tick.scheduledAtMs);
    ticks.forEach((tick, i) => {
      // Slots are exactly start + n·20 ms …
      expect(tick.scheduledAtMs - first.scheduledAtMs).toBeCloseTo((tick.index - first.index) * 20, 6);
      // … no tick runs ahead of its slot, and the clock reports the lateness we measure here.
      expect(measuredLateMs[i]).toBeGreaterThan(-1.5);
      expect(Math.abs(measuredLateMs[i]! - tick.lateByMs)).toBeLessThan(1);
    });
    // Ticks run close to their slot (the shared CI machine may delay an odd one).
    expect(median(measuredLateMs)).toBeLessThan(5);
    expect(measuredLateMs.filter((late) => late < 20).length / ticks.length).toBeGreaterThanOrEqual(0.9);
    // No drift: a chain of plain 20 ms timeouts would end ~1 ms/tick behind; this one does not.
    const early = median(measuredLateMs.slice(0, 10));
    const late = median(measuredLateMs.slice(-10));
    expect(late - early).toBeLessThan(4);
    const lastTick = ticks.at(-1)!;
    expect(lastTick.index - first.index).toBeGreaterThanOrEqual(48);
  });

  it('skips to the current slot after a blocked event loop instead of bursting the missed ticks', async () => {
    const clock = new PacketClock();
    const { ticks, unsubscribe } = recordTicks(clock);
    await sleep(110);
    const blockStartMs = performance.now();
    busyWait(105);
    const blockEndMs = performance.now();
    await sleep(150);
    unsubscribe();

    const afterBlock = ticks.filter((tick) => tick.firedAtMs >= blockEndMs);
    const beforeBlock = ticks.filter((tick) => tick.firedAtMs <= blockStartMs);
    const resumed = afterBlock[0]!;
    const lastBefore = beforeBlock.at(-1)!;
    expect(resumed.skipped).toBeGreaterThanOrEqual(4);
    expect(resumed.index - lastBefore.index).toBe(resumed.skipped + 1);
    expect(clock.skippedTicks).toBeGreaterThanOrEqual(resumed.skipped);
    // One tick for the stall, then back on the normal cadence: a burst would fire the missed
    // slots back to back, ahead of their time on the grid.
    expect(afterBlock.filter((tick) => tick.firedAtMs - blockEndMs < 20).length).toBeLessThanOrEqual(2);
    for (let i = 1; i < afterBlock.length; i++) {
      expect(afterBlock[i]!.index).toBe(afterBlock[i - 1]!.index + 1);
      expect(afterBlock[i]!.firedAtMs - afterBlock[i]!.scheduledAtMs).toBeGreaterThan(-1.5);
    }
    expect(afterBlock.length).toBeLessThanOrEqual(Math.ceil((ticks.at(-1)!.firedAtMs - blockEndMs) / 20) + 1);
    // Still on the original grid.
    expect(resumed.scheduledAtMs - ticks[0]!.scheduledAtMs).toBeCloseTo((resumed.index - ticks[0]!.index) * 20, 6);
    expect(resumed.lateByMs).toBeLessThan(22); // within the current slot, not 100 ms behind
  });

  it('serves 60 subscribers from one timer and releases it when the last one leaves', async () => {
    // Timer counts are compared within synchronous stretches, where no other timer can come or go.
    const timersBefore = pendingTimers();
    const clock = new PacketClock();
    const seenBySubscriber: number[][] = [];
    const unsubscribes = Array.from({ length: 60 }, (_, subscriber) => {
      seenBySubscriber[subscriber] = [];
      return clock.subscribe((index) => seenBySubscriber[subscriber]!.push(index));
    });
    expect(clock.running).toBe(true);
    expect(clock.subscriberCount).toBe(60);
    expect(pendingTimers()).toBe(timersBefore + 1);
    await sleep(110);
    expect(seenBySubscriber[0]!.length).toBeGreaterThanOrEqual(4);
    for (const seen of seenBySubscriber) expect(seen).toEqual(seenBySubscriber[0]);

    const timersWhileRunning = pendingTimers();
    for (const unsubscribe of unsubscribes.slice(1)) unsubscribe();
    expect(clock.running).toBe(true);
    expect(pendingTimers()).toBe(timersWhileRunning);
    unsubscribes[0]!();
    unsubscribes[0]!(); // a second call is harmless
    expect(clock.running).toBe(false);
    expect(clock.subscriberCount).toBe(0);
    expect(pendingTimers()).toBe(timersWhileRunning - 1);
    const countAfterStop = seenBySubscriber[0]!.length;
    await sleep(60);
    expect(seenBySubscriber[0]!.length).toBe(countAfterStop);
  });

  it('stops cleanly when the last listener unsubscribes from inside a tick, and restarts on a fresh grid', async () => {
    const clock = new PacketClock();
    let ticksSeen = 0;
    const unsubscribe = clock.subscribe(() => {
      if (++ticksSeen === 3) unsubscribe();
    });
    await sleep(120);
    expect(ticksSeen).toBe(3);
    expect(clock.running).toBe(false);
    expect(clock.subscriberCount).toBe(0);

    const { ticks, unsubscribe: stopAgain } = recordTicks(clock);
    await sleep(50);
    stopAgain();
    expect(ticks[0]!.index).toBe(0);
    expect(clock.running).toBe(false);
  });

  it('lets the process exit once the last subscriber of the shared clock leaves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'packet-clock-'));
    try {
      const script = join(dir, 'child.ts');
      const clockUrl = pathToFileURL(resolve('server/media/packet-clock.ts')).href;
      writeFileSync(
        script,
        `import { sharedPacketClock } from ${JSON.stringify(clockUrl)};
let ticks = 0;
const unsubscribe = sharedPacketClock.subscribe(() => {
  if (++ticks === 5) { unsubscribe(); console.log('released after ' + ticks + ' ticks'); }
});
`,
      );
      // If a timer were left behind, the child would never exit and execFile would kill it.
      const { stdout } = await run(process.execPath, ['--import', 'tsx', script], { timeout: 15_000 });
      expect(stdout.trim()).toBe('released after 5 ticks');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps ticking for the others when a listener throws', async () => {
    const errors: unknown[] = [];
    const clock = new PacketClock({ onListenerError: (error) => errors.push(error) });
    const stopFaulty = clock.subscribe(() => {
      throw new Error('listener broke');
    });
    const { ticks, unsubscribe } = recordTicks(clock);
    await sleep(90);
    stopFaulty();
    unsubscribe();
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    expect(errors.length).toBe(ticks.length);
    expect(String(errors[0])).toMatch(/listener broke/);
  });

  it('runs other periods when asked, and the shared clock is a 20 ms clock', async () => {
    expect(sharedPacketClock).toBeInstanceOf(PacketClock);
    expect(sharedPacketClock.periodMs).toBe(20);
    const clock = new PacketClock({ periodMs: 5 });
    const { ticks, unsubscribe } = recordTicks(clock);
    await sleep(100);
    unsubscribe();
    expect(ticks.length).toBeGreaterThan(12);
    expect(ticks.at(-1)!.scheduledAtMs - ticks[0]!.scheduledAtMs).toBeCloseTo((ticks.at(-1)!.index - ticks[0]!.index) * 5, 6);
    expect(() => new PacketClock({ periodMs: 0 })).toThrow(/positive/);
  });
});
