import { describe, expect, it } from 'vitest';
import { workerPortRange } from '../../server/cluster/ports.js';

describe('workerPortRange', () => {
  it('splits a range into disjoint slices that cover it, the last taking the remainder', () => {
    const slices = [0, 1, 2].map((i) => workerPortRange([40000, 40100], i, 3));
    expect(slices).toEqual([[40000, 40032], [40033, 40065], [40066, 40100]]);
  });

  it('gives one worker the whole range', () => {
    expect(workerPortRange([50000, 50001], 0, 1)).toEqual([50000, 50001]);
  });

  it('refuses a range too small for every worker to have two ports, naming the setting', () => {
    expect(() => workerPortRange([40000, 40004], 0, 3)).toThrow(/ICE_PORT_RANGE 40000-40004 .*3 workers need at least 2 each/);
  });
});
