import { describe, expect, it } from 'vitest';
import { ReplayWindow } from '../../server/media/srtp-replay-window.js';

describe('ReplayWindow', () => {
  it('matches a plain set-based model of the 64-packet window over random arrivals', () => {
    const window = new ReplayWindow();
    const seen = new Set<number>();
    let highest = -1;
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let base = 1000;
    for (let i = 0; i < 20_000; i++) {
      base += random() < 0.7 ? 1 : 0;
      const index = Math.max(0, base + Math.floor(random() * 140) - 100 + (random() < 0.01 ? 500 : 0));
      const expected = highest < 0 || index > highest || (highest - index < 64 && !seen.has(index));
      expect(window.allows(index), `arrival ${i}, index ${index}, highest ${highest}`).toBe(expected);
      if (expected) {
        window.accept(index);
        seen.add(index);
        highest = Math.max(highest, index);
      }
    }
  });
});
