import type { Interval } from './wilson.js';

/** A paired difference of two accuracies on the same problems, with its 95 % interval. */
export interface PairedEstimate extends Interval {
  estimate: number;
}

/** log k! for k = 0..n. */
function logFactorials(n: number): Float64Array {
  const out = new Float64Array(n + 1);
  for (let k = 1; k <= n; k++) out[k] = out[k - 1]! + Math.log(k);
  return out;
}

/** P(X <= k) for X ~ Binomial(n, p), summed in log space (n is at most a few thousand here). */
function binomialCdf(k: number, n: number, p: number, lf: Float64Array): number {
  if (p <= 0) return 1;
  if (p >= 1) return k >= n ? 1 : 0;
  let sum = 0;
  for (let i = 0; i <= k; i++)
    sum += Math.exp(lf[n]! - lf[i]! - lf[n - i]! + i * Math.log(p) + (n - i) * Math.log1p(-p));
  return Math.min(1, sum);
}

/** The p in [0, 1] where the decreasing function f crosses target, by bisection (to float precision). */
function solveDecreasing(f: (p: number) => number, target: number): number {
  let [lo, hi] = [0, 1];
  for (let i = 0; i < 200 && hi - lo > 1e-15; i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) > target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * The exact (Clopper-Pearson) interval of a binomial proportion k / n: scipy's
 * `binomtest(k, n).proportion_ci(method='exact')`.
 */
export function clopperPearson(k: number, n: number, alpha = 0.05): Interval {
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`clopperPearson: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(k) || k < 0 || k > n)
    throw new RangeError(`clopperPearson: k must be an integer in 0..${n}, got ${k}`);
  const lf = logFactorials(n);
  // P(X >= k; p) grows with p: the lower end is where it reaches alpha/2; P(X <= k; p) falls with p.
  const low = k === 0 ? 0 : solveDecreasing((p) => binomialCdf(k - 1, n, p, lf), 1 - alpha / 2);
  const high = k === n ? 1 : solveDecreasing((p) => binomialCdf(k, n, p, lf), alpha / 2);
  return { low, high };
}

/**
 * The paired difference acc(a) - acc(b) of two outcome vectors on the same problems, with the exact
 * McNemar-based 95 % interval: conditional on the n discordant problems (b right and a wrong, or the
 * reverse), the count where a alone is right is Binomial(n, p) and the difference is (n / N)(2p - 1);
 * the Clopper-Pearson interval of p maps to the interval of the difference. Problems both get right or
 * both get wrong carry no information about the difference, which is why pairing narrows the interval.
 * With no discordant problem the difference is exactly 0 on these problems and so is the interval.
 */
export function pairedDifference(a: readonly boolean[], b: readonly boolean[]): PairedEstimate {
  if (a.length !== b.length || a.length === 0)
    throw new RangeError(`pairedDifference: outcome vectors of ${a.length} and ${b.length} problems`);
  let onlyA = 0;
  let onlyB = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && !b[i]) onlyA++;
    else if (!a[i] && b[i]) onlyB++;
  }
  const total = a.length;
  const discordant = onlyA + onlyB;
  const estimate = (onlyA - onlyB) / total;
  if (discordant === 0) return { estimate, low: 0, high: 0 };
  const p = clopperPearson(onlyA, discordant);
  const scale = discordant / total;
  return { estimate, low: scale * (2 * p.low - 1), high: scale * (2 * p.high - 1) };
}
