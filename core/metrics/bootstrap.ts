/** Resampling with a seeded generator, so an interval is the same on every run and machine. */
import { mulberry32 } from '../random.js';

/** The statistic on `rounds` resamples (same size, with replacement) of `items`. */
export function bootstrap<T, R>(
  items: readonly T[],
  rounds: number,
  seed: number,
  statistic: (sample: T[]) => R,
): R[] {
  const random = mulberry32(seed);
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
