import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Manifest } from '../../core/records.js';
import { shardsOf } from '../../core/shards.js';

const prompts = (rows: number) => ({ uri: '/p.jsonl', rows }) as Manifest;
const ranges = (rows: number, size: number, cap?: number) =>
  shardsOf(prompts(rows), size, cap).map((s) => [s.start, s.end, s.count]);

test('shards are shardSize prompts while the count stays within maxShards', () => {
  assert.deepEqual(ranges(10, 4, 50), [
    [0, 4, 3],
    [4, 8, 3],
    [8, 10, 3],
  ]);
  assert.deepEqual(ranges(0, 4, 50), [[0, 0, 1]], 'no prompts: one empty shard');
});

test('past maxShards shards grow, and still cover every prompt once', () => {
  for (const rows of [100_000, 100_003, 1_000_001]) {
    const shards = shardsOf(prompts(rows), 64, 50);
    assert.ok(shards.length <= 50, `${rows} prompts: ${shards.length} shards`);
    shards.forEach((s, i) => assert.equal(s.start, i === 0 ? 0 : shards[i - 1]!.end));
    assert.equal(shards.at(-1)!.end, rows);
  }
  assert.deepEqual(ranges(7, 2, 2), [
    [0, 4, 2],
    [4, 7, 2],
  ]);
});

test('without a cap (configs and histories from before maxShards) shards stay shardSize', () => {
  assert.equal(shardsOf(prompts(100_000), 64).length, 1563);
});
