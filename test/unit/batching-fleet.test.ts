import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchingFleet, type BatchingSpec } from '../support/batching-fleet.js';

const spec: BatchingSpec = {
  replicas: 1,
  slots: 2,
  tokensPerSecond: 100,
  maxSequenceTokensPerSecond: 1000,
  prefillTokensPerSecond: 1000,
  medianTokens: 2048,
  sigma: 0.5,
  charsPerToken: 4,
  timeScale: 1,
};

/** Submits [arrival, replica, prompt tokens, output tokens] requests; returns each one's finish time. */
function finishTimes(fleet: BatchingFleet, requests: [number, number, number, number][]): number[] {
  const done: number[] = [];
  requests.forEach(([at, replica, prompt, output], i) =>
    fleet.submit(at, replica, prompt, output, () => (done[i] = fleet.time)),
  );
  fleet.advance(1000);
  return done;
}

const near = (actual: number[], expected: number[]) =>
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]!) < 1e-9, `${actual} is not ${expected}`));

test('running sequences share the replica budget; the next in the queue takes a freed slot', () => {
  const fleet = new BatchingFleet(spec);
  // Alone: 100 tokens at 100 tokens/s. Two at once: 50 tokens/s each. A third waits for a slot.
  near(finishTimes(new BatchingFleet(spec), [[0, 0, 0, 100]]), [1]);
  near(
    finishTimes(fleet, [
      [0, 0, 0, 100],
      [0, 0, 0, 100],
      [0, 0, 0, 100],
    ]),
    [2, 2, 3],
  );
  // Two slots busy for 2 s, then one for 1 s.
  assert.ok(Math.abs(fleet.stats.slotSeconds - 5) < 1e-9);
  assert.equal(fleet.stats.lastFinish, 3);
});

test('a sequence alone decodes no faster than one step per token allows', () => {
  const capped = { ...spec, maxSequenceTokensPerSecond: 60 };
  // Alone: 60 tokens/s, not the budget's 100. Two: the budget binds, 50 each.
  near(finishTimes(new BatchingFleet(capped), [[0, 0, 0, 100]]), [100 / 60]);
  // Two arriving together.
  const together = [0, 0].map((at): [number, number, number, number] => [at, 0, 0, 100]);
  near(finishTimes(new BatchingFleet(capped), together), [2, 2]);
});

test('a sequence arriving later slows the running one down from then on', () => {
  // The first runs alone for 0.5 s (50 tokens), then both at 50 tokens/s: it needs 1 s more. The
  // second, 50 tokens done by then, finishes its last 50 alone at full speed.
  near(
    finishTimes(new BatchingFleet(spec), [
      [0, 0, 0, 100],
      [0.5, 0, 0, 100],
    ]),
    [1.5, 2],
  );
});

test('prefill costs time in proportion to prompt tokens, out of the same budget', () => {
  // 1000 prompt tokens at 1000/s alone take 1 s, then 100 output tokens another second.
  near(finishTimes(new BatchingFleet(spec), [[0, 0, 1000, 100]]), [2]);
  near(finishTimes(new BatchingFleet(spec), [[0, 0, 2000, 100]]), [3]);
});

test('replicas have budgets of their own', () => {
  const fleet = new BatchingFleet({ ...spec, replicas: 2 });
  near(
    finishTimes(fleet, [
      [0, 0, 0, 100],
      [0, 1, 0, 100],
    ]),
    [1, 1],
  );
  assert.equal(fleet.stats.requests, 2);
  assert.ok(Math.abs(fleet.stats.slotSeconds - 2) < 1e-9);
});

test('slot use up to the last arrival leaves out the drain after it', () => {
  const fleet = new BatchingFleet(spec);
  finishTimes(fleet, [
    [0, 0, 0, 100],
    [1, 0, 0, 100],
  ]);
  assert.equal(fleet.stats.lastArrival, 1);
  assert.ok(Math.abs(fleet.stats.slotSecondsToLastArrival - 1) < 1e-9);
});

test('output lengths are lognormal around the median and capped at max_tokens', () => {
  const fleet = new BatchingFleet(spec);
  const draws = Array.from({ length: 20_000 }, () => fleet.outputTokens(4096));
  const tokens = draws.map((d) => d.tokens).sort((a, b) => a - b);
  const median = tokens[tokens.length / 2]!;
  assert.ok(Math.abs(median - 2048) < 60, `median ${median}`);
  assert.equal(tokens.at(-1), 4096);
  // P(z > ln 2 / 0.5) = 8.3 % of draws reach the cap, and only those are marked.
  const capped = draws.filter((d) => d.capped);
  assert.ok(capped.length > 0.07 * draws.length && capped.length < 0.1 * draws.length, `${capped.length}`);
  assert.ok(capped.every((d) => d.tokens === 4096));
  assert.equal(fleet.stats.capped, capped.length);
  assert.ok(tokens[0]! >= 1);
  assert.equal(fleet.promptTokens(4001), 1001);
});
