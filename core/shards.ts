import type { Manifest } from './records.js';
import type { ShardRef } from './steps.js';

/**
 * A phase's prompts cut into contiguous shards of `shardSize`, grown to ceil(rows / maxShards) where
 * that would make more than `maxShards`: each shard adds its steps' events to the iteration's history,
 * so the cap bounds the history whatever the prompt count. No cap (configs from before maxShards, or
 * histories recorded before it) keeps shards of `shardSize`.
 */
export function shardsOf(prompts: Manifest, shardSize: number, maxShards?: number): ShardRef[] {
  const size = maxShards ? Math.max(shardSize, Math.ceil(prompts.rows / maxShards)) : shardSize;
  const count = Math.max(1, Math.ceil(prompts.rows / size));
  return Array.from({ length: count }, (_, index) => ({
    index,
    count,
    prompts,
    start: index * size,
    end: Math.min(prompts.rows, (index + 1) * size),
  }));
}
