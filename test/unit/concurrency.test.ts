import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachLimit, mapLimit, semaphore } from '../../core/concurrency.js';

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

test('a stream is read as lanes free up, and no further than a failure', async () => {
  let pulled = 0;
  async function* numbers() {
    for (let i = 0; i < 100; i++) {
      pulled++;
      yield i;
    }
  }
  let peak = 0;
  let inFlight = 0;
  const seen: number[] = [];
  await forEachLimit(numbers(), 3, async (x, index) => {
    assert.equal(index, x);
    peak = Math.max(peak, ++inFlight);
    assert.ok(pulled <= x + 3, `item ${x}: ${pulled} pulled, at most the lanes ahead`);
    await tick(1);
    seen.push(x);
    inFlight--;
  });
  assert.equal(peak, 3);
  assert.equal(seen.length, 100);

  pulled = 0;
  const finished: number[] = [];
  await assert.rejects(
    forEachLimit(numbers(), 2, async (x) => {
      if (x === 3) throw new Error('boom');
      await tick(5);
      finished.push(x);
    }),
    /boom/,
  );
  assert.ok(pulled <= 5, `${pulled} items pulled: the stream stops at the failure`);
  assert.deepEqual(finished.sort(), [0, 1, 2]);
});

test('streams sharing an admission run at most its slots at once, and waiting lanes take no item', async () => {
  const admission = semaphore(3);
  let pulled = 0;
  let inFlight = 0;
  let peak = 0;
  async function* items(n: number) {
    for (let i = 0; i < n; i++) {
      pulled++;
      yield i;
    }
  }
  const work = async () => {
    peak = Math.max(peak, ++inFlight);
    assert.ok(
      pulled - finished <= 3,
      `${pulled} pulled, ${finished} finished: only admitted lanes hold items`,
    );
    await tick(2);
    inFlight--;
    finished++;
  };
  let finished = 0;
  await Promise.all([
    forEachLimit(items(20), 10, work, admission),
    forEachLimit(items(20), 10, work, admission),
  ]);
  assert.equal(finished, 40);
  assert.equal(peak, 3);
});

test('a starting caller gets the next slot, and work between its requests yields to it', async () => {
  const slots = semaphore(1);
  const order: string[] = [];
  const take = (name: string) => () => {
    order.push(name);
    slots.release();
  };
  await slots.acquire(); // a chain under way holds the only slot
  const rest = slots.acquire('rest').then(take('rest'));
  const starting = slots.acquire('starting').then(take('starting'));
  await slots.yieldToStarting(); // between two requests of the chain: the starting caller goes, then the chain
  take('chain')();
  await Promise.all([rest, starting]);
  assert.deepEqual(order, ['starting', 'chain', 'rest']);
});
