import assert from 'node:assert/strict';
import { test } from 'node:test';
import { medianInterval } from '../../bench/median-interval.js';

test('the median interval takes the order statistics of the binomial table', () => {
  // n = 10: x(2)..x(9), coverage 1 - 2 * 11/1024 = 0.9785 (Conover, Practical Nonparametric Statistics).
  const ten = medianInterval([10, 1, 9, 2, 8, 3, 7, 4, 6, 5]);
  assert.deepEqual([ten.median, ten.low, ten.high], [5.5, 2, 9]);
  assert.ok(Math.abs(ten.coverage - (1 - 22 / 1024)) < 1e-12);
  // n = 12: x(3)..x(10), coverage 1 - 2 * 79/4096 = 0.9614.
  const twelve = medianInterval(Array.from({ length: 12 }, (_, i) => i + 1));
  assert.deepEqual([twelve.low, twelve.high], [3, 10]);
  assert.ok(Math.abs(twelve.coverage - (1 - 158 / 4096)) < 1e-12);
});

test('with too few values the interval is the range, with the coverage it has', () => {
  const five = medianInterval([3, 1, 2, 5, 4]);
  assert.deepEqual([five.median, five.low, five.high], [3, 1, 5]);
  assert.ok(Math.abs(five.coverage - (1 - 2 / 32)) < 1e-12);
  assert.throws(() => medianInterval([]), /no values/);
});
