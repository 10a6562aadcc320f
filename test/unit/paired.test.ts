import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clopperPearson, pairedDifference } from '../../core/metrics/paired.js';

/** Outcome vectors of N problems: onlyA where a alone is right, onlyB where b alone is, both right first. */
function outcomes(bothRight: number, onlyA: number, onlyB: number, total: number) {
  const a: boolean[] = [];
  const b: boolean[] = [];
  const push = (x: boolean, y: boolean, n: number) => {
    for (let i = 0; i < n; i++) {
      a.push(x);
      b.push(y);
    }
  };
  push(true, true, bothRight);
  push(true, false, onlyA);
  push(false, true, onlyB);
  push(false, false, total - bothRight - onlyA - onlyB);
  return [a, b] as const;
}

// Expected values from scipy 1.17.1 (scratch venv), for (onlyA, onlyB, N):
//   ci = scipy.stats.binomtest(onlyA, onlyA + onlyB).proportion_ci(0.95, method='exact')
//   low, high = (onlyA + onlyB) / N * (2 * ci.low - 1), (onlyA + onlyB) / N * (2 * ci.high - 1)
const SCIPY: [number, number, number, number, number, number][] = [
  [12, 2, 50, 0.2, 0.04024766989056863, 0.27003507132941273],
  [9, 19, 300, -0.03333333333333333, -0.06369513959458477, 0.00438972925250724],
  [0, 4, 20, -0.2, -0.2, 0.04094585424659432],
  [7, 0, 10, 0.7, 0.12653704388493195, 0.7],
  [40, 25, 400, 0.0375, -0.004410336847388593, 0.07587582005414391],
];

test('the paired difference and its exact McNemar-based interval match scipy', () => {
  for (const [onlyA, onlyB, total, estimate, low, high] of SCIPY) {
    const [a, b] = outcomes(Math.floor((total - onlyA - onlyB) / 2), onlyA, onlyB, total);
    const got = pairedDifference(a, b);
    const at = `(${onlyA}, ${onlyB}, ${total})`;
    assert.ok(Math.abs(got.estimate - estimate) < 1e-12, `${at} estimate ${got.estimate}`);
    assert.ok(Math.abs(got.low - low) < 1e-9, `${at} low ${got.low} != ${low}`);
    assert.ok(Math.abs(got.high - high) < 1e-9, `${at} high ${got.high} != ${high}`);
  }
});

test('concordant problems do not move the estimate; they shrink it by N, as the paired design says', () => {
  // 12 vs 2 discordant among 50 problems, whatever the concordant ones are: the same interval.
  const [a1, b1] = outcomes(36, 12, 2, 50);
  const [a2, b2] = outcomes(0, 12, 2, 50);
  assert.deepEqual(pairedDifference(a1, b1), pairedDifference(a2, b2));
  // No discordant problem: the two are equal on these problems.
  assert.deepEqual(pairedDifference([true, false], [true, false]), { estimate: 0, low: 0, high: 0 });
});

test('Clopper-Pearson: the closed forms at the ends, and bad input names itself', () => {
  // k = 0: the upper end solves (1 - p)^n = alpha / 2.
  assert.ok(Math.abs(clopperPearson(0, 10).high - (1 - 0.025 ** (1 / 10))) < 1e-12);
  assert.ok(Math.abs(clopperPearson(10, 10).low - 0.025 ** (1 / 10)) < 1e-12);
  assert.throws(() => clopperPearson(3, 2), /k must be an integer in 0\.\.2, got 3/);
  assert.throws(() => pairedDifference([true], [true, false]), /outcome vectors of 1 and 2 problems/);
});
