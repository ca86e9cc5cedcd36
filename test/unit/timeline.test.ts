import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { TURN_MARKS, TurnTimeline } from '../../server/timeline.js';

describe('TurnTimeline', () => {
  it('starts at the release: 0 ms since release, and nothing else reached', () => {
    const timeline = new TurnTimeline(1000);
    expect(timeline.has('release')).toBe(true);
    expect(timeline.sinceRelease('release')).toBe(0);
    for (const mark of TURN_MARKS.filter((m) => m !== 'release')) {
      expect(timeline.has(mark)).toBe(false);
      expect(timeline.sinceRelease(mark)).toBeUndefined();
    }
    expect(timeline.toJSON()).toEqual([{ mark: 'release', label: 'release', atMs: 0 }]);
  });

  it('measures each milestone in ms since the release', () => {
    const timeline = new TurnTimeline(5000);
    timeline.mark('transcript', 5420.25);
    timeline.mark('firstRtp', 6100);
    expect(timeline.sinceRelease('transcript')).toBeCloseTo(420.25, 6);
    expect(timeline.sinceRelease('firstRtp')).toBe(1100);
  });

  it('keeps the first time a milestone happens, not later repeats', () => {
    const timeline = new TurnTimeline(0);
    timeline.mark('firstDelta', 300);
    timeline.mark('firstDelta', 900);
    timeline.mark('release', 50);
    expect(timeline.sinceRelease('firstDelta')).toBe(300);
    expect(timeline.sinceRelease('release')).toBe(0);
  });

  it('lists milestones in turn order with labels, whatever order they were marked in, rounded to 0.1 ms', () => {
    const timeline = new TurnTimeline(100);
    timeline.mark('firstRtp', 900.04);
    timeline.mark('chatSent', 400.26);
    timeline.mark('transcript', 350.0);
    timeline.mark('cancel', 1200);
    expect(timeline.toJSON()).toEqual([
      { mark: 'release', label: 'release', atMs: 0 },
      { mark: 'transcript', label: 'transcript', atMs: 250 },
      { mark: 'chatSent', label: 'chat sent', atMs: 300.3 },
      { mark: 'firstRtp', label: 'first sound sent', atMs: 800 },
      { mark: 'cancel', label: 'cancelled', atMs: 1100 },
    ]);
  });

  it('gives every milestone a readable label of its own', () => {
    const timeline = new TurnTimeline(0);
    TURN_MARKS.forEach((mark, i) => timeline.mark(mark, i));
    const entries = timeline.toJSON();
    expect(entries.map((e) => e.mark)).toEqual([...TURN_MARKS]);
    const labels = entries.map((e) => e.label);
    expect(new Set(labels).size).toBe(TURN_MARKS.length);
    for (const { mark, label } of entries) {
      expect(label).toMatch(/^[A-Za-z][A-Za-z ]+$/);
      if (/[A-Z]/.test(mark)) expect(label).not.toBe(mark); // words, not the camelCase key
    }
  });

  it('uses the monotonic clock by default', async () => {
    const timeline = new TurnTimeline();
    await sleep(30);
    timeline.mark('segmentReady');
    const elapsed = timeline.sinceRelease('segmentReady')!;
    expect(elapsed).toBeGreaterThanOrEqual(25);
    expect(elapsed).toBeLessThan(1000);
  });
});
