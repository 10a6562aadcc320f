/** Resampling exactly as the official harnesses do it, so an interval is theirs to the last digit. */
import { NumpyRandomState } from '../random.js';

/**
 * The statistic on `rounds` resamples (same size, with replacement) of `items`, drawn as pandas'
 * `items.sample(frac=1.0, replace=True)` draws them after `np.random.seed(seed)`: each round takes
 * `np.random.randint(0, n, size=n)` positions from the one global generator.
 */
export function bootstrap<T, R>(
  items: readonly T[],
  rounds: number,
  seed: number,
  statistic: (sample: T[]) => R,
): R[] {
  const random = new NumpyRandomState(seed);
  const results: R[] = [];
  for (let round = 0; round < rounds; round++)
    results.push(statistic(random.randint(items.length, items.length).map((i) => items[i]!)));
  return results;
}

/** numpy's default (linear) percentile, q in [0, 100]; NaN when any value is NaN, as numpy gives. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0 || values.some(Number.isNaN)) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const position = (q / 100) * (sorted.length - 1);
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}
