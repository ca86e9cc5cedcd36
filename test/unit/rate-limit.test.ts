import { describe, expect, it } from 'vitest';
import { CallLimits, TokenBucket } from '../../server/rate-limit.js';

describe('TokenBucket', () => {
  it('allows a burst, then the rate', () => {
    let now = 0;
    const bucket = new TokenBucket(2, 3, () => now);
    expect([1, 2, 3, 4].map(() => bucket.take())).toEqual([true, true, true, false]);
    now = 499;
    expect(bucket.take()).toBe(false);
    now = 500;
    expect(bucket.take()).toBe(true);
    now = 100_000;
    expect([1, 2, 3, 4].map(() => bucket.take())).toEqual([true, true, true, false]); // never above the burst
  });
});

describe('CallLimits', () => {
  it('refuses past the per-address and the total limit, in words, and frees slots once', () => {
    const limits = new CallLimits({ maxCalls: 3, maxCallsPerAddress: 2 });
    const a1 = limits.acquire('10.0.0.1');
    const a2 = limits.acquire('10.0.0.1');
    const a3 = limits.acquire('10.0.0.1');
    expect('refused' in a3 && a3.refused).toMatch(/already has 2 calls/);
    const b1 = limits.acquire('10.0.0.2');
    const c1 = limits.acquire('10.0.0.3');
    expect('refused' in c1 && c1.refused).toMatch(/limit of 3 calls/);
    if (!('release' in a1) || !('release' in a2) || !('release' in b1)) throw new Error('expected slots');
    a1.release();
    a1.release(); // twice frees one slot
    expect(limits.open).toBe(2);
    expect('release' in limits.acquire('10.0.0.3')).toBe(true);
    expect('refused' in limits.acquire('10.0.0.4')).toBe(true);
  });
});
