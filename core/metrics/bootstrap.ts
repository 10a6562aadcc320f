/** Resampling with a seeded generator, so an interval is the same on every run and machine. */

/** mulberry32: a small 32-bit generator; uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The statistic on `rounds` resamples (same size, with replacement) of `items`. */
export function bootstrap<T, R>(
  items: readonly T[],
  rounds: number,
  seed: number,
  statistic: (sample: T[]) => R,
): R[] {
  const random = seededRandom(seed);
  const results: R[] = [];
  for (let round = 0; round < rounds; round++) {
    const sample = items.map(() => items[Math.floor(random() * items.length)]!);
    results.push(statistic(sample));
  }
  return results;
}

/** numpy's default (linear) percentile, q in [0, 100]. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (q / 100) * (sorted.length - 1);
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}
