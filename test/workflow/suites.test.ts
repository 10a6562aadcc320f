import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Activities } from '../../activities/index.js';
import type { RunResult } from '../../core/steps.js';
import { suiteLine } from '../../core/suites.js';
import { iterationProgressQuery } from '../../workflows/control.js';
import { recordingActivities } from '../support/recording-activities.js';
import { demoConfig } from '../support/config.js';
import { useTimeSkippingServer } from '../support/time-skipping.js';

const server = useTimeSkippingServer();

test('every iteration scores each benchmark suite after the evaluation, with the evaluation strategy', async () => {
  const id = 'suites';
  const calls: string[] = [];
  const recording = recordingActivities(calls);
  const verifiers: string[] = [];
  const activities: Activities = {
    ...recording,
    judgeShard: (input) => {
      verifiers.push(`${input.scope.dir} ${input.judge.verifier}`);
      return recording.judgeShard(input);
    },
  };
  const worker = await server.worker(id, activities);
  const base = demoConfig();
  const judge = { endpoint: base.judge.llm!.endpoint, config: 'judge_config.yaml' };
  const config = demoConfig({
    runId: id,
    iterations: 1,
    artifactRoot: '/a',
    shardSize: 7, // the recorded prompt files have 14 rows: two shards
    evaluation: {
      ...base.evaluation,
      refineRounds: 2,
      suites: [
        {
          name: 'math500',
          kind: 'accuracy',
          prompts: { kind: 'file', path: 'math500.jsonl', format: 'math' },
          verifier: 'math',
        },
        {
          name: 'arena',
          kind: 'arena-hard',
          prompts: 'question.jsonl',
          baseline: 'gpt-4-0314.jsonl',
          judge,
          bootstrapRounds: 100,
          seed: 42,
        },
      ],
    },
  });
  const [result, progress] = await worker.runUntil(async () => {
    const client = server.env.client.workflow;
    const done: RunResult = await client.execute('evolveRun', {
      taskQueue: id,
      workflowId: id,
      args: [config],
    });
    return [done, await client.getHandle(`${id}/iter-1`).query(iterationProgressQuery)] as const;
  });
  const dir = '/a/suites/iter-1';
  const afterEvaluation = calls.slice(calls.findIndex((c) => c.startsWith('evaluate')) + 1);
  assert.deepEqual(
    afterEvaluation.filter((c) => /^(prompts|suite)/.test(c)),
    [
      `prompts ${dir}/suite-math500`,
      'suite math500 from 0 verdict manifest(s), 2 round(s)',
      `prompts ${dir}/suite-arena`,
      'suite arena from 2 verdict manifest(s), 2 round(s)',
    ],
  );
  // Shards are judged concurrently: one verdict activity per shard, on that shard's answers and scores.
  assert.deepEqual(afterEvaluation.filter((c) => c.startsWith('verdicts')).sort(), [
    `verdicts ${dir}/suite-arena/verdicts #0 of s0+r0+j0, 2 round(s)`,
    `verdicts ${dir}/suite-arena/verdicts #1 of s1+r1+j1, 2 round(s)`,
  ]);
  assert.ok(
    afterEvaluation.findIndex((c) => c.startsWith('verdicts')) >
      afterEvaluation.findIndex((c) => c.startsWith('prompts') && c.endsWith('suite-arena')),
  );
  // Generated like the evaluation (one chain of depth 3 from the new checkpoint), shard by shard.
  assert.ok(afterEvaluation.includes(`refine ${dir}/suite-arena/refine #1 depth 3`));
  // Gold answers are checked by the suite's verifier; the pairwise suite keeps the run's judge.
  assert.ok(verifiers.includes(`${dir}/suite-math500/judge math`));
  assert.ok(verifiers.includes(`${dir}/suite-arena/judge ${base.judge.verifier}`));
  const [iteration] = result.iterations;
  assert.deepEqual(
    iteration!.suites!.map((s) => [s.name, s.rounds.length]),
    [
      ['math500', 3],
      ['arena', 3],
    ],
  );
  assert.deepEqual(iteration!.steps.map((s) => s.step).slice(-8), [
    'suite-math500:sample',
    'suite-math500:refine',
    'suite-math500:judge',
    'suite-math500',
    'suite-arena:sample',
    'suite-arena:refine',
    'suite-arena:judge',
    'suite-arena',
  ]);
  // `evolve show` prints the scored suites from the iteration's progress query.
  assert.deepEqual(progress.suites!.map(suiteLine), [
    'math500 (score, %): direct 50.0, refine@1 50.0, refine@2 50.0 [recorded accuracy judge]',
    'arena (score, %): direct 50.0, refine@1 50.0, refine@2 50.0 [recorded arena-hard judge]',
  ]);
});
