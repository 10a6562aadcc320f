import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Activities } from '../../activities/index.js';
import type { Manifest } from '../../core/records.js';
import type { LoadPromptsInput, ShardRef } from '../../core/steps.js';
import { defaultSharding, demoConfig } from '../support/config.js';
import { historySize } from '../support/history.js';
import { recordingActivities } from '../support/recording-activities.js';
import { useTimeSkippingServer } from '../support/time-skipping.js';

const server = useTimeSkippingServer();

/** Temporal's own limits: a payload over 2 MB fails the workflow task; we keep a wide margin. */
const budget = { iterationEvents: 2000, runEvents: 40, eventBytes: 256 * 1024 };
const rows = { train: 100_003, eval: 100_000 };

/** The recording stand-ins, with large prompt sets and every shard each step received, per phase. */
function largeActivities(received: Map<string, ShardRef[]>): Activities {
  const calls: string[] = [];
  const base = recordingActivities(calls);
  const record =
    <I extends { scope: { dir: string }; shard: ShardRef }>(step: (i: I) => Promise<Manifest>) =>
    (i: I) => {
      const dir = i.scope.dir.slice(i.scope.dir.indexOf('/iter-'));
      received.set(dir, [...(received.get(dir) ?? []), i.shard]);
      return step(i);
    };
  return {
    ...base,
    loadPrompts: async (i: LoadPromptsInput & { seedOffset: number }) => ({
      ...(await base.loadPrompts(i)),
      rows: i.scope.dir.endsWith('/eval') ? rows.eval : rows.train,
    }),
    sampleShard: record(base.sampleShard),
    refineChain: record(base.refineChain),
    judgeShard: record(base.judgeShard),
  } as Activities;
}

/** Shards that cover [0, rows) exactly once: contiguous, in order, each announcing the same count. */
function assertCover(shards: ShardRef[], total: number, label: string) {
  const sorted = [...shards].sort((a, b) => a.index - b.index);
  assert.deepEqual(
    sorted.map((s) => s.index),
    sorted.map((_, i) => i),
    `${label}: each shard once`,
  );
  sorted.forEach((s, i) => {
    assert.equal(s.count, sorted.length, `${label}: shard ${i} count`);
    assert.equal(
      s.start,
      i === 0 ? 0 : sorted[i - 1]!.end,
      `${label}: shard ${i} starts where ${i - 1} ended`,
    );
    assert.ok(s.end > s.start, `${label}: shard ${i} is not empty`);
  });
  assert.equal(sorted.at(-1)!.end, total, `${label}: the last shard ends at the last prompt`);
}

for (const [name, inFlight] of [
  ['the default window', undefined],
  ['one shard at a time (one workflow task per completion)', 1],
] as const) {
  test(`100k-prompt phases with default shard settings, ${name}: every prompt once, history in budget`, async () => {
    const sharding = { ...defaultSharding(), ...(inFlight ? { maxShardsInFlight: inFlight } : {}) };
    const id = `big-${inFlight ?? 'default'}`;
    const received = new Map<string, ShardRef[]>();
    const worker = await server.worker(id, largeActivities(received));
    const config = demoConfig({ runId: id, iterations: 1, artifactRoot: '/a', ...sharding });
    await worker.runUntil(
      server.env.client.workflow.execute('evolveRun', { taskQueue: id, workflowId: id, args: [config] }),
    );

    for (const [phase, total] of [
      ['train', rows.train],
      ['eval', rows.eval],
    ] as const) {
      for (const step of ['sample', 'refine', 'judge']) {
        const shards = received.get(`/iter-1/${phase}/${step}`) ?? [];
        assert.ok(shards.length <= sharding.maxShards, `${phase} ${step}: ${shards.length} shards`);
        assertCover(shards, total, `${phase} ${step}`);
      }
    }

    const iteration = await historySize(server.env.client.workflow.getHandle(`${id}/iter-1`));
    const run = await historySize(server.env.client.workflow.getHandle(id));
    assert.ok(iteration.events <= budget.iterationEvents, `iteration history: ${iteration.events} events`);
    assert.ok(run.events <= budget.runEvents, `run history: ${run.events} events`);
    for (const { largestEventBytes } of [iteration, run])
      assert.ok(largestEventBytes <= budget.eventBytes, `largest event: ${largestEventBytes} bytes`);
  });
}
