import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Activities } from '../../activities/index.js';
import { summaryTable } from '../../client/run.js';
import { runStatusQuery, type RunStatus } from '../../workflows/control.js';
import type { RunResult, ServeInput } from '../../core/steps.js';
import { demoConfig } from '../support/config.js';
import { recordingActivities } from '../support/recording-activities.js';
import { useTimeSkippingServer } from '../support/time-skipping.js';

const server = useTimeSkippingServer();

/** Recording activities whose evaluation of iteration t scores `scores[t - 1]` after refinement. */
function scoring(calls: string[], scores: number[], onServe: () => Promise<void>): Activities {
  const base = recordingActivities(calls);
  return {
    ...base,
    serveCheckpoint: async (input: ServeInput) => {
      calls.push(`serve ${input.model} replacing ${input.replaces}`);
      await onServe();
      return { endpoint: input.endpoint, model: input.model, probe: '5' };
    },
    summarizeEvaluation: async (input: { scope: { dir: string; iteration: number } }) => {
      calls.push(`evaluate iteration ${input.scope.iteration}`);
      const score = scores[input.scope.iteration - 1]!;
      return { uri: `${input.scope.dir}/evaluation.json`, prompts: 10, accuracy: [0.1, score], wallMs: 3 };
    },
  } as unknown as Activities;
}

const checkpoint = (runId: string, t: number) => `/a/${runId}/iter-${t}/train/checkpoint/out`;

async function run(runId: string, scores: number[], keepBest: boolean) {
  const calls: string[] = [];
  // What the run's status query answers while each serve step runs.
  const statuses: RunStatus[] = [];
  const status = async () =>
    void statuses.push(await server.env.client.workflow.getHandle(runId).query(runStatusQuery));
  const worker = await server.worker(runId, scoring(calls, scores, status));
  const base = demoConfig();
  const config = demoConfig({
    runId,
    iterations: scores.length,
    artifactRoot: '/a',
    shardSize: 100,
    evaluation: { ...base.evaluation, keepBest },
  });
  const result: RunResult = await worker.runUntil(
    server.env.client.workflow.execute('evolveRun', { taskQueue: runId, workflowId: runId, args: [config] }),
  );
  return { calls, result, statuses };
}

test('keepBest: after a regression the next iteration serves, samples from and trains the best checkpoint', async () => {
  const { calls, result, statuses } = await run('kb', [0.5, 0.3, 0.4], true);
  const [first, second, third] = [1, 2, 3].map((t) => checkpoint('kb', t));

  assert.equal(result.iterations[0]!.keptBest, undefined, 'the first evaluation is the best so far');
  assert.deepEqual(result.iterations[1]!.keptBest, {
    checkpoint: first,
    iteration: 1,
    score: 0.5,
    regressedTo: 0.3,
  });
  assert.deepEqual(result.iterations[2]!.keptBest, {
    checkpoint: first,
    iteration: 1,
    score: 0.5,
    regressedTo: 0.4,
  });
  assert.equal(result.finalModel, first, 'the run ends on the best checkpoint, not the regressed last one');
  assert.match(
    summaryTable(result),
    /iteration 2 regressed \(0\.3 < 0\.5\): the next policy is iteration 1's checkpoint/,
  );

  // The status query shows the decision while iteration 3 runs (its two serve steps), not before.
  assert.deepEqual(
    statuses.map((st) => [st.iteration, st.policyModel, st.keptBest?.iteration ?? null]),
    [
      [1, '.evolve/models/smollm2-135m-instruct', null],
      [2, first, null],
      [3, first, 1],
      [3, first, 1],
    ],
  );

  // Iteration 3 puts iteration 1's checkpoint back on the server before it samples from it.
  const iteration3 = calls.slice(calls.indexOf('evaluate iteration 2') + 1);
  assert.deepEqual(iteration3.slice(0, 3), [
    `serve ${first} replacing ${second}`,
    'prompts /a/kb/iter-3/train',
    `sample /a/kb/iter-3/train/sample #0 ${first} x2`,
  ]);
  assert.ok(iteration3.includes(`submit ${first}`), 'iteration 3 trains the best checkpoint');
  assert.ok(iteration3.includes(`serve ${third} replacing ${first}`), 'its own checkpoint replaces it');
  assert.equal(
    calls.filter((c) => c.startsWith('serve ')).length,
    4,
    'one serve per iteration, and one to go back',
  );
});

test('without keepBest a regression changes nothing: each checkpoint is the next policy', async () => {
  const { calls, result } = await run('no-kb', [0.5, 0.3, 0.4], false);
  assert.ok(result.iterations.every((it) => it.keptBest === undefined));
  assert.equal(result.finalModel, checkpoint('no-kb', 3));
  assert.ok(calls.includes(`submit ${checkpoint('no-kb', 2)}`), 'iteration 3 trains the regressed one');
  assert.equal(calls.filter((c) => c.startsWith('serve ')).length, 3);
});
