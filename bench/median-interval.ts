import { percentile } from '../core/metrics/bootstrap.js';

/** P(X <= k) for X ~ Binomial(n, 1/2). */
function binomialHalfCdf(k: number, n: number): number {
  let term = 0.5 ** n;
  let sum = term;
  for (let i = 1; i <= k; i++) sum += term *= (n - i + 1) / i;
  return sum;
}

/**
 * The sample median with a distribution-free confidence interval for the population median: the order
 * statistics x(k) and x(n+1-k), k the largest whose coverage 1 - 2 P(Bin(n, 1/2) <= k-1) is at least
 * `level`. It assumes only independent rounds, not normal ones (a busy machine gives skewed rounds).
 * With too few values for `level` (n < 6 at 95 %) it is [min, max] with its lower coverage.
 */
export function medianInterval(
  values: readonly number[],
  level = 0.95,
): { median: number; low: number; high: number; coverage: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) throw new RangeError('medianInterval: no values');
  const coverage = (k: number) => 1 - 2 * binomialHalfCdf(k - 1, n);
  let k = 1;
  while (k + 1 <= (n + 1) / 2 && coverage(k + 1) >= level) k++;
  return { median: percentile(sorted, 50), low: sorted[k - 1]!, high: sorted[n - k]!, coverage: coverage(k) };
}
