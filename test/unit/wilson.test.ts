import assert from 'node:assert/strict';
import { test } from 'node:test';
import { wilsonInterval } from '../../core/metrics/wilson.js';

const close = (actual: number, expected: number) =>
  assert.ok(Math.abs(actual - expected) < 5e-5, `${actual} is not ${expected}`);

test('Wilson intervals match published values', () => {
  // Newcombe (1998), Table I: 81/263 -> 0.2553-0.3662; 15/148 -> 0.0624-0.1605.
  const a = wilsonInterval(81, 263);
  close(a.low, 0.2553);
  close(a.high, 0.3662);
  const b = wilsonInterval(15, 148);
  close(b.low, 0.0624);
  close(b.high, 0.1605);
  // 8/10 at 95 %: 0.4902-0.9433 (statsmodels proportion_confint(8, 10, method='wilson')).
  const c = wilsonInterval(8, 10);
  close(c.low, 0.4902);
  close(c.high, 0.9433);
});

test('Wilson intervals stay inside [0, 1] and are not empty at 0 or n successes', () => {
  const none = wilsonInterval(0, 20);
  assert.equal(none.low, 0);
  assert.ok(none.high > 0.1 && none.high < 0.2, `${none.high}`);
  const all = wilsonInterval(20, 20);
  assert.equal(all.high, 1);
  assert.ok(all.low > 0.8 && all.low < 0.9, `${all.low}`);
});

test('Wilson intervals refuse impossible counts', () => {
  assert.throws(() => wilsonInterval(1, 0), /n must be a positive integer/);
  assert.throws(() => wilsonInterval(11, 10), /successes must be an integer in 0..10/);
  assert.throws(() => wilsonInterval(0.5, 10), /successes must be an integer/);
});
