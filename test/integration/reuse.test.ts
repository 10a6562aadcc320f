import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type Worker } from '@temporalio/worker';
import { defaultDeps, type ActivityDeps } from '../../activities/index.js';
import type { RunConfig } from '../../core/config.js';
import type { IterationResult, RunResult } from '../../core/steps.js';
import { createEvolveWorker, workflowsPath } from '../../workers/worker.js';
import { tinyConfig } from '../support/config.js';
import { startFakeOpenAI, type FakeServer } from '../support/fake-openai.js';
import { baseModel } from '../support/paths.js';
import { startDevServer } from '../support/dev-server.js';
import { scratchDir } from '../support/scratch.js';

// A real dev server, worker, activities and `trl dpo` on CPU; the inference server is the double, and
// every request the worker sends it is logged by kind, so a repeated one cannot go unnoticed.
let env: TestWorkflowEnvironment;
let fake: FakeServer;
let worker: Worker;
let running: Promise<void>;
const requests: { kind: 'sample' | 'refine' | 'judge' | 'probe'; model: string }[] = [];
const root = scratchDir('evolve-reuse-');

before(async () => {
  env = await startDevServer();
  fake = await startFakeOpenAI();
  const real = defaultDeps();
  const deps: ActivityDeps = {
    chatFor: (model) => async (request) => {
      const last = request.messages.at(-1)!.content;
      const kind = last.includes('Score (1-')
        ? 'judge'
        : last.startsWith('What is 2 + 3?')
          ? 'probe'
          : request.messages.length > 1
            ? 'refine'
            : 'sample';
      requests.push({ kind, model: request.model });
      return real.chatFor(model)(request);
    },
  };
  worker = await createEvolveWorker({
    connection: env.nativeConnection,
    taskQueue: 'reuse',
    deps,
    workflowBundle: await bundleWorkflowCode({ workflowsPath }),
  });
  running = worker.run();
});
after(async () => {
  worker?.shutdown();
  await running;
  await fake?.close();
  await env?.teardown();
});

function config(runId: string): RunConfig {
  const base = tinyConfig(fake.baseUrl, root, runId);
  return {
    ...base,
    // Arithmetic prompts go to the verifier, the open ones to the LLM judge.
    prompts: [
      { kind: 'arithmetic', count: 4, seed: 3, maxOperand: 9 },
      { kind: 'file', path: 'deploy/demo/instructions.jsonl', limit: 3 },
    ],
    sampling: { ...base.sampling, samples: 2, chainDepth: 2 },
    evaluation: { ...base.evaluation, prompts: { kind: 'arithmetic', count: 2, seed: 99, maxOperand: 9 } },
  };
}

/** sha256 of every file of a run except the reuse index, which a reuse is allowed to touch. */
function fingerprint(runDir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.set(relative(runDir, path), createHash('sha256').update(readFileSync(path)).digest('hex'));
    }
  };
  walk(runDir);
  for (const path of files.keys()) if (path.startsWith('cas/')) files.delete(path);
  return files;
}

const requestsSince = (mark: number) => requests.slice(mark);
const reusedBy = (result: IterationResult) => Object.fromEntries(result.steps.map((s) => [s.step, s.reused]));
const outputsOf = (result: IterationResult) => ({
  checkpoint: result.checkpoint,
  accuracy: result.evaluation.accuracy,
  steps: result.steps.map((s) => [s.step, s.rows, s.uri]),
});

let first: RunResult;

test('a Temporal reset of an iteration to its first workflow task recomputes nothing', async () => {
  first = await env.client.workflow.execute('evolveRun', {
    taskQueue: 'reuse',
    workflowId: 'a',
    args: [config('a')],
  });
  const before = fingerprint(join(root, 'a'));
  const mark = requests.length;
  assert.ok(mark > 0);

  // What `temporal workflow reset --workflow-id a/iter-1 --type FirstWorkflowTask` does.
  const iteration = env.client.workflow.getHandle('a/iter-1');
  const { events } = await iteration.fetchHistory();
  const firstTask = events!.find(
    (e) => e.eventType === proto.temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
  )!;
  const { runId } = await env.client.workflowService.resetWorkflowExecution({
    namespace: 'default',
    workflowExecution: { workflowId: 'a/iter-1' },
    workflowTaskFinishEventId: firstTask.eventId,
    reason: 'test: reset to the first workflow task',
    requestId: 'reuse-test-reset',
  });
  const again: IterationResult = await env.client.workflow.getHandle('a/iter-1', runId!).result();

  // Only the serve probe, which checks the server, not an output, is sent again.
  assert.deepEqual(
    requestsSince(mark).map((r) => r.kind),
    ['probe'],
  );
  assert.deepEqual(outputsOf(again), outputsOf(first.iterations[0]!));
  assert.deepEqual(reusedBy(again), {
    'train:prompts': false,
    'train:sample': true,
    'train:refine': true,
    'train:judge': true,
    pair: true,
    train: true,
    'eval:sample': true,
    'eval:refine': true,
    'eval:judge': true,
    evaluate: false,
  });
  assert.deepEqual(fingerprint(join(root, 'a')), before, 'no artifact (nor the trainer) was written again');
});

test('a new run resuming from another recomputes only the steps whose inputs changed', async () => {
  assert.ok(first, 'needs the run of the test above');
  const changed = config('b');
  changed.reuseFrom = ['a'];
  changed.judge.llm!.rubric = 'Rate only the correctness of the response, from 1 to 10. Number only.';
  const mark = requests.length;
  const result: RunResult = await env.client.workflow.execute('evolveRun', {
    taskQueue: 'reuse',
    workflowId: 'b',
    args: [changed],
  });
  const [b, a] = [result.iterations[0]!, first.iterations[0]!];

  assert.deepEqual(
    Object.fromEntries(Object.entries(reusedBy(b)).filter(([step]) => !step.startsWith('eval:'))),
    {
      'train:prompts': false,
      'train:sample': true,
      'train:refine': true,
      'train:judge': false,
      pair: false,
      train: false,
      evaluate: false,
    },
  );
  const sent = requestsSince(mark);
  assert.deepEqual(
    sent.filter((r) => r.model === baseModel && r.kind !== 'judge'),
    [],
    'no answer or refinement of the base policy was asked for again',
  );
  assert.ok(
    sent.some((r) => r.kind === 'judge'),
    'the open prompts were judged again under the new rubric',
  );
  const step = (r: IterationResult, name: string) => r.steps.find((s) => s.step === name)!;
  assert.equal(step(b, 'train:sample').uri, step(a, 'train:sample').uri, "run a's answers are used");
  assert.notEqual(b.checkpoint, a.checkpoint, 'other pairs train a new checkpoint');
  assert.ok(b.checkpoint.startsWith(join(root, 'b')));
  assert.ok(
    sent.some((r) => r.kind === 'sample' && r.model === b.checkpoint),
    'the new checkpoint is evaluated',
  );
});
