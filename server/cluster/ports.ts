/** Worker `index` of `count`'s own share of a UDP port range: no two workers ever bind one port. */
export function workerPortRange(range: readonly [number, number], index: number, count: number): [number, number] {
  const [min, max] = range;
  const size = max - min + 1;
  const share = Math.floor(size / count);
  if (share < 2) {
    throw new Error(`ICE_PORT_RANGE ${min}-${max} has ${size} ports: ${count} workers need at least 2 each (${2 * count}).`);
  }
  const first = min + index * share;
  // The last worker also takes the remainder.
  const last = index === count - 1 ? max : first + share - 1;
  return [first, last];
}
