import assert from 'node:assert/strict';
import { test } from 'node:test';
import { recordingActivities } from '../support/recording-activities.js';
import { demoConfig } from '../support/config.js';
import { useTimeSkippingServer } from '../support/time-skipping.js';

const server = useTimeSkippingServer();

async function runIteration(id: string, overrides: Parameters<typeof demoConfig>[0]) {
  const calls: string[] = [];
  const worker = await server.worker(id, recordingActivities(calls));
  const config = demoConfig({ runId: id, iterations: 1, artifactRoot: '/a', shardSize: 14, ...overrides });
  const result = await worker.runUntil(
    server.env.client.workflow.execute('evolveRun', { taskQueue: id, workflowId: id, args: [config] }),
  );
  const generation = calls.filter((c) => /^(sample|refine|judge|evaluate)/.test(c));
  return { generation, steps: result.iterations[0].steps.map((s: { step: string }) => s.step) };
}

test('parallel data collection samples N per prompt and skips refinement; a tree evaluation runs N chains of depth K', async () => {
  const base = demoConfig();
  const { generation, steps } = await runIteration('st-parallel', {
    sampling: { ...base.sampling, strategy: 'parallel', samples: 3, chainDepth: 4 },
    evaluation: { ...base.evaluation, strategy: 'tree', samples: 3, refineRounds: 2, temperature: 0.7 },
  });
  const model = '.evolve/models/smollm2-135m-instruct';
  const checkpoint = '/a/st-parallel/iter-1/train/checkpoint/out';
  assert.deepEqual(generation, [
    `sample /a/st-parallel/iter-1/train/sample #0 ${model} x3`,
    'judge /a/st-parallel/iter-1/train/judge #0 of /a/st-parallel/iter-1/train/sample/s0',
    `sample /a/st-parallel/iter-1/eval/sample #0 ${checkpoint} x3`,
    'refine /a/st-parallel/iter-1/eval/refine #0 depth 3',
    'judge /a/st-parallel/iter-1/eval/judge #0 of /a/st-parallel/iter-1/eval/sample/s0+/a/st-parallel/iter-1/eval/refine/r0',
    'evaluate 2 round(s) of tree, keep best',
  ]);
  assert.ok(!steps.includes('train:refine') && steps.includes('eval:refine'));
});

test('chain data collection runs one chain of depth K; direct evaluation one answer, no refinement', async () => {
  const base = demoConfig();
  const { generation } = await runIteration('st-chain', {
    sampling: { ...base.sampling, strategy: 'chain', samples: 3, chainDepth: 3 },
    evaluation: { ...base.evaluation, strategy: 'direct', refineRounds: 2 },
  });
  assert.deepEqual(
    generation.map((c) => c.replace(/ \S*(checkpoint|models)\S*/, '')),
    [
      'sample /a/st-chain/iter-1/train/sample #0 x1',
      'refine /a/st-chain/iter-1/train/refine #0 depth 3',
      'judge /a/st-chain/iter-1/train/judge #0 of /a/st-chain/iter-1/train/sample/s0+/a/st-chain/iter-1/train/refine/r0',
      'sample /a/st-chain/iter-1/eval/sample #0 x1',
      'judge /a/st-chain/iter-1/eval/judge #0 of /a/st-chain/iter-1/eval/sample/s0',
      'evaluate 0 round(s) of direct, keep last',
    ],
  );
});

test('parallel-refine refines each of the N answers once, whatever the configured depth', async () => {
  const base = demoConfig();
  const { generation } = await runIteration('st-pr', {
    sampling: { ...base.sampling, strategy: 'parallel-refine', samples: 4, chainDepth: 5 },
    evaluation: { ...base.evaluation, strategy: 'chain', keep: 'best', refineRounds: 3 },
  });
  assert.ok(
    generation.some((c) => c.startsWith('sample /a/st-pr/iter-1/train/sample #0') && c.endsWith(' x4')),
  );
  assert.ok(generation.includes('refine /a/st-pr/iter-1/train/refine #0 depth 2'));
  assert.ok(generation.includes('refine /a/st-pr/iter-1/eval/refine #0 depth 4'));
  assert.ok(generation.includes('evaluate 3 round(s) of chain, keep best'));
});
