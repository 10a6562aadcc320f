import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapLimit } from '../../core/concurrency.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('keeps at most `limit` calls in flight and the order of results', async () => {
  let inFlight = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 4, 2, 3], 2, async (x) => {
    peak = Math.max(peak, ++inFlight);
    await tick(x * 3);
    inFlight--;
    return x * 10;
  });
  assert.deepEqual(out, [50, 10, 40, 20, 30]);
  assert.equal(peak, 2);
});

test('after a failure, starts nothing new but lets in-flight calls finish', async () => {
  const finished: number[] = [];
  await assert.rejects(
    mapLimit([1, 2, 3, 4, 5, 6], 3, async (x) => {
      if (x === 1) throw new Error('boom');
      await tick(10);
      finished.push(x);
    }),
    /boom/,
  );
  assert.deepEqual(finished.sort(), [2, 3], 'the two calls in flight completed; 4-6 never started');
});
