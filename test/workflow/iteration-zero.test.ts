import assert from 'node:assert/strict';
import { test } from 'node:test';
import { showRun } from '../../client/inspect.js';
import { summaryTable } from '../../client/run.js';
import type { RunResult } from '../../core/steps.js';
import { runStatusQuery } from '../../workflows/control.js';
import { recordingActivities } from '../support/recording-activities.js';
import { demoConfig } from '../support/config.js';
import { useTimeSkippingServer } from '../support/time-skipping.js';

const server = useTimeSkippingServer();

test('iteration 0 evaluates the initial policy with the evaluation strategy and suites before iteration 1 trains', async () => {
  const id = 'zero';
  const calls: string[] = [];
  const worker = await server.worker(id, recordingActivities(calls));
  const base = demoConfig();
  const config = demoConfig({
    runId: id,
    iterations: 1,
    artifactRoot: '/a',
    shardSize: 7,
    evaluation: {
      ...base.evaluation,
      iterationZero: true,
      suites: [
        { name: 'gsm', kind: 'accuracy', prompts: { kind: 'file', path: 'gsm.jsonl' }, verifier: 'numeric' },
      ],
    },
  });
  const { result, status, shown } = await worker.runUntil(async () => {
    const handle = await server.env.client.workflow.start('evolveRun', {
      taskQueue: id,
      workflowId: id,
      args: [config],
    });
    const result: RunResult = await handle.result();
    return {
      result,
      status: await handle.query(runStatusQuery),
      shown: await showRun(server.env.client, id),
    };
  });
  const baseModel = config.policy.baseModel;
  assert.deepEqual(
    result.iterations.map((it) => [it.iteration, it.checkpoint]),
    [
      [0, baseModel],
      [1, '/a/zero/iter-1/train/checkpoint/out'],
    ],
  );
  const zero = result.iterations[0]!;
  assert.deepEqual(zero.evaluation.accuracy, [0.3, 0.4]);
  assert.deepEqual(
    zero.suites?.map((s) => s.name),
    ['gsm'],
  );
  assert.deepEqual(
    zero.steps.map((s) => s.step),
    [
      'eval:sample',
      'eval:refine',
      'eval:judge',
      'evaluate',
      'suite-gsm:sample',
      'suite-gsm:refine',
      'suite-gsm:judge',
      'suite-gsm',
    ],
    'iteration 0 only evaluates: no sampling, pairing or training',
  );
  // The initial policy is evaluated (same strategy as every iteration) before anything is trained.
  const firstTrain = calls.findIndex((c) => c.startsWith('submit'));
  const zeroEval = calls.indexOf(`sample /a/zero/iter-0/eval/sample #0 ${baseModel} x1`);
  assert.ok(zeroEval >= 0 && zeroEval < firstTrain, 'iteration 0 evaluates the base model first');
  assert.ok(calls.includes('refine /a/zero/iter-0/suite-gsm/refine #0 depth 2'));
  assert.equal(
    calls.filter((c) => c === 'evaluate 1 round(s) of chain, keep last').length,
    2,
    'iterations 0 and 1 are evaluated the same way',
  );
  assert.ok(
    !calls.slice(0, firstTrain).some((c) => c.startsWith('serve ')),
    'the server already serves the base model',
  );
  assert.ok(calls.includes(`submit ${baseModel}`), 'iteration 1 trains the base model');

  assert.deepEqual(status.evaluated, [
    { iteration: 0, accuracy: [0.3, 0.4] },
    { iteration: 1, accuracy: [0.3, 0.4] },
  ]);
  const text = shown.join('\n');
  assert.match(text, /iteration 0 \(initial policy\) evaluated: direct 30\.0%, refine@1 40\.0%/);
  assert.match(text, /iteration 1 evaluated: direct 30\.0%, refine@1 40\.0%/);
  const table = summaryTable(result);
  assert.match(table, /iteration 0 evaluation on 10 held-out prompts: direct 30\.0%, refine@1 40\.0%/);
  assert.match(table, /iteration 0 is the initial policy .*, evaluated before training/);
  const child = await server.env.client.workflow.getHandle(`${id}/iter-0`).describe();
  assert.equal(child.status.name, 'COMPLETED');
});

test('evaluation.iterationZero false starts at iteration 1', async () => {
  const id = 'nozero';
  const calls: string[] = [];
  const worker = await server.worker(id, recordingActivities(calls));
  const config = demoConfig({ runId: id, iterations: 1, artifactRoot: '/a' });
  const result: RunResult = await worker.runUntil(
    server.env.client.workflow.execute('evolveRun', { taskQueue: id, workflowId: id, args: [config] }),
  );
  assert.deepEqual(
    result.iterations.map((it) => it.iteration),
    [1],
  );
  assert.ok(!calls.some((c) => c.includes('/iter-0/')));
});

test('stage 0 SFT on trainer.sft.dataset trains pi_1 once, before iteration 0 evaluates it and iteration 1 trains it against it', async () => {
  const id = 'stage0';
  const calls: string[] = [];
  const worker = await server.worker(id, recordingActivities(calls));
  const base = demoConfig();
  const config = demoConfig({
    runId: id,
    iterations: 2,
    artifactRoot: '/a',
    trainer: { ...base.trainer, reference: 'initial', sft: { ...base.trainer.sft, dataset: 'prefs.jsonl' } },
    evaluation: { ...base.evaluation, iterationZero: true },
  });
  const result: RunResult = await worker.runUntil(
    server.env.client.workflow.execute('evolveRun', { taskQueue: id, workflowId: id, args: [config] }),
  );
  const baseModel = config.policy.baseModel;
  const pi1 = '/a/stage0/stage0/checkpoint/out';
  assert.deepEqual(calls.slice(0, 5), [
    'sft-set prefs.jsonl -> /a/stage0/stage0/data',
    `submit ${baseModel}`,
    `sft of ${baseModel} against ${baseModel}`,
    'await stage0-stage0-sft',
    `serve ${pi1}`,
  ]);
  assert.equal(calls.filter((c) => c.startsWith('sft-set')).length, 1, 'keyed once, across continue-as-new');
  assert.equal(calls.filter((c) => c.startsWith('sft of')).length, 1);
  assert.deepEqual(result.stage0 && [result.stage0.step, result.stage0.rows, result.stage0.uri], [
    'stage0:sft',
    4,
    pi1,
  ]);
  assert.deepEqual(
    result.iterations.map((it) => [it.iteration, it.checkpoint]),
    [
      [0, pi1],
      [1, '/a/stage0/iter-1/train/checkpoint/out'],
      [2, '/a/stage0/iter-2/train/checkpoint/out'],
    ],
  );
  assert.ok(calls.includes(`sample /a/stage0/iter-0/eval/sample #0 ${pi1} x1`), 'iteration 0 evaluates pi_1');
  // reference: initial is pi_1, the stage-0 model, in every iteration; never the pre-SFT base.
  assert.deepEqual(
    calls.filter((c) => c.startsWith('dpo of')),
    [`dpo of ${pi1} against ${pi1}`, `dpo of /a/stage0/iter-1/train/checkpoint/out against ${pi1}`],
  );
  assert.match(summaryTable(result), /^0\tstage0:sft\t4\t/m);
});

test('iterations 0 runs stage 0 and evaluates pi_1 as iteration 0, and trains nothing after', async () => {
  const id = 'evalonly';
  const calls: string[] = [];
  const worker = await server.worker(id, recordingActivities(calls));
  const base = demoConfig();
  const config = demoConfig({
    runId: id,
    iterations: 0,
    artifactRoot: '/a',
    trainer: { ...base.trainer, sft: { ...base.trainer.sft, dataset: 'prefs.jsonl' } },
    evaluation: { ...base.evaluation, iterationZero: true },
  });
  const result: RunResult = await worker.runUntil(
    server.env.client.workflow.execute('evolveRun', { taskQueue: id, workflowId: id, args: [config] }),
  );
  const pi1 = '/a/evalonly/stage0/checkpoint/out';
  assert.deepEqual(
    result.iterations.map((it) => [it.iteration, it.checkpoint]),
    [[0, pi1]],
  );
  assert.equal(result.finalModel, pi1);
  assert.deepEqual(
    calls.filter((c) => / of .* against /.test(c)),
    [`sft of ${config.policy.baseModel} against ${config.policy.baseModel}`],
    'stage 0 only',
  );
});
