import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { temporal } from '@temporalio/proto';
import { WorkflowFailedError } from '@temporalio/client';
import { createActivities } from '../../activities/index.js';
import { recordingActivities } from '../support/recording-activities.js';
import { rootCause } from '../../client/errors.js';
import { StatusKey } from '../../core/search-attributes.js';
import { demoConfig } from '../support/config.js';
import { useTimeSkippingServer } from '../support/time-skipping.js';

const server = useTimeSkippingServer();

test('evolveRun runs one child per iteration and threads each checkpoint into the next', async () => {
  const calls: string[] = [];
  const worker = await server.worker('wf-test', recordingActivities(calls));
  const config = demoConfig({ runId: 'wf', iterations: 2, artifactRoot: '/a', shardSize: 7 });
  const result = await worker.runUntil(
    server.env.client.workflow.execute('evolveRun', {
      taskQueue: 'wf-test',
      workflowId: 'wf',
      args: [config],
    }),
  );
  assert.equal(result.iterations.length, 2);
  assert.equal(result.finalModel, '/a/wf/iter-2/train/checkpoint/out');
  assert.deepEqual(
    result.iterations[0].steps.map((s: { step: string; rows: number }) => `${s.step}:${s.rows}`),
    [
      'train:prompts:14',
      'train:sample:8',
      'train:refine:8',
      'train:judge:16',
      'pair:6',
      'train:6',
      'eval:sample:8',
      'eval:refine:8',
      'eval:judge:16',
      'evaluate:10',
    ],
  );
  // 14 prompts in shards of 7: two shards per phase, each sampled, refined and judged in order.
  const iter1 = calls.slice(0, calls.indexOf('pair 4 generation + 2 score manifests') + 1);
  for (const shard of [0, 1]) {
    const order = ['sample', 'refine', 'judge'].map((s) =>
      iter1.findIndex((c) => c.startsWith(`${s} /a/wf/iter-1/train/${s}`) && c.includes(`#${shard}`)),
    );
    assert.ok(
      order[0]! >= 0 && order[0]! < order[1]! && order[1]! < order[2]!,
      `shard ${shard} order: ${order}`,
    );
  }
  assert.ok(calls.includes('sample /a/wf/iter-1/train/sample #0 .evolve/models/smollm2-135m-instruct x2'));
  assert.ok(
    calls.includes('submit /a/wf/iter-1/train/checkpoint/out'),
    'iteration 2 trains the iteration-1 checkpoint',
  );
  assert.ok(
    calls.includes('sample /a/wf/iter-2/eval/sample #0 /a/wf/iter-2/train/checkpoint/out x1'),
    'evaluation uses the new checkpoint',
  );
  assert.ok(calls.includes('refine /a/wf/iter-1/eval/refine #0 depth 2'));
  assert.ok(calls.includes('evaluate 1 round(s) of chain, keep last'), 'the default evaluation strategy');
  const child = await server.env.client.workflow.getHandle('wf/iter-2').describe();
  assert.equal(child.status.name, 'COMPLETED');
});

test('the SFT stage runs before DPO in iteration 1 only, and initial keeps the base as reference', async () => {
  const calls: string[] = [];
  const worker = await server.worker('wf-sft', recordingActivities(calls));
  const base = demoConfig();
  const config = demoConfig({
    runId: 'wfsft',
    iterations: 2,
    artifactRoot: '/a',
    trainer: { ...base.trainer, reference: 'initial', sft: { ...base.trainer.sft, when: 'first' } },
  });
  const result = await worker.runUntil(
    server.env.client.workflow.execute('evolveRun', {
      taskQueue: 'wf-sft',
      workflowId: 'wfsft',
      args: [config],
    }),
  );
  const baseModel = config.policy.baseModel;
  const training = calls.filter((c) => / of .* against /.test(c));
  assert.deepEqual(training, [
    `sft of ${baseModel} against ${baseModel}`,
    `dpo of /a/wfsft/iter-1/train/sft/out against ${baseModel}`,
    `dpo of /a/wfsft/iter-1/train/checkpoint/out against ${baseModel}`,
  ]);
  const steps = result.iterations.map((it: { steps: { step: string }[] }) => it.steps.map((s) => s.step));
  assert.ok(steps[0].includes('train:sft') && !steps[1].includes('train:sft'));
});

test('a bad config fails the run at once, naming the key, before any step runs', async () => {
  const calls: string[] = [];
  // The real validation activity, as the worker wires it: bad input fails once, without retries.
  const activities = { ...recordingActivities(calls), validateConfig: createActivities().validateConfig };
  const worker = await server.worker('wf-bad', activities);
  await assert.rejects(
    worker.runUntil(
      server.env.client.workflow.execute('evolveRun', {
        taskQueue: 'wf-bad',
        workflowId: 'wf-bad',
        args: [{ ...demoConfig(), sampling: { samples: -1 } }],
        workflowExecutionTimeout: '1 minute',
      }),
    ),
    (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(rootCause(err).message, /workflow input is invalid:\n {2}sampling\.samples: Too small/);
      return true;
    },
  );
  assert.deepEqual(calls, [], 'no step ran');
  const { typedSearchAttributes } = await server.env.client.workflow.getHandle('wf-bad').describe();
  assert.equal(typedSearchAttributes.get(StatusKey), 'failed', 'EvolveStatus finds failed runs');
});

test('a long run continues as new after each iteration and keeps every history under budget', async () => {
  const calls: string[] = [];
  const worker = await server.worker('wf-long', recordingActivities(calls));
  const config = demoConfig({ runId: 'long', iterations: 4, artifactRoot: '/a', shardSize: 7 });
  const { result, histories } = await worker.runUntil(async () => {
    const handle = await server.env.client.workflow.start('evolveRun', {
      taskQueue: 'wf-long',
      workflowId: 'long',
      args: [config],
    });
    const result = await handle.result();
    // Walk the chain of executions from the first one.
    const histories: temporal.api.history.v1.IHistory[] = [];
    let runId: string | undefined = handle.firstExecutionRunId;
    while (runId) {
      const history: temporal.api.history.v1.IHistory = await server.env.client.workflow
        .getHandle('long', runId)
        .fetchHistory();
      histories.push(history);
      const last: temporal.api.history.v1.IHistoryEvent = history.events!.at(-1)!;
      runId = last.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    return { result, histories };
  });
  assert.deepEqual(
    result.iterations.map((it: { checkpoint: string }) => it.checkpoint),
    [1, 2, 3, 4].map((t) => `/a/long/iter-${t}/train/checkpoint/out`),
  );
  assert.ok(
    calls.includes('submit /a/long/iter-3/train/checkpoint/out'),
    'iteration 4 trains the iteration-3 checkpoint',
  );
  assert.equal(histories.length, 4, 'one execution per iteration');
  const budget = 40; // events per execution of evolveRun, whatever the number of iterations
  for (const history of histories)
    assert.ok(history.events!.length <= budget, `${history.events!.length} events`);
});
