import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { defaultDeps, type ActivityDeps } from '../../activities/index.js';
import type { RunConfig } from '../../core/config.js';
import type { RunResult } from '../../core/steps.js';
import type { IterationProgress } from '../../workflows/control.js';
import type { RunStatus } from '../../workflows/control.js';
import { createEvolveWorker, workflowsPath } from '../../workers/worker.js';
import { tinyConfig } from '../support/config.js';
import { startDevServer } from '../support/dev-server.js';
import { showRun } from '../../client/inspect.js';
import { startFakeOpenAI, type FakeServer } from '../support/fake-openai.js';
import { temporalCli } from '../support/paths.js';
import { until } from '../support/until.js';
import { PROBE_QUESTION } from '../../activities/serve.js';

// Issue 7: a run operated from the Temporal CLI alone, with the commands of the README's "The Temporal
// CLI" and reset sections. Real dev server, worker, activities and `trl dpo` on CPU; the inference
// server is the double, and every request the worker sends is counted, so a recomputed shard shows.
let env: TestWorkflowEnvironment;
let fake: FakeServer;
let worker: Worker;
let bundle: WorkflowBundleWithSourceMap;
let running: Promise<void>;
const root = mkdtempSync(join(tmpdir(), 'evolve-temporal-cli-'));
const runId = 'my-run';
const shardSize = 1;

/** Every chat request by its full content: one served twice would be work paid for twice. */
const served = new Map<string, number>();
const sent: { model: string; temperature: number; probe: boolean }[] = [];
// The second shard's first request waits here, so the test can pause the run mid-iteration.
let releaseSecondShard = () => {};
const secondShard = new Promise<void>((resolve) => (releaseSecondShard = resolve));
const promptsSeen = new Set<string>();

/** The real model client, with the test's bookkeeping in front of every request. */
function countingDeps(): ActivityDeps {
  const real = defaultDeps();
  return {
    chatFor: (model) => async (request) => {
      promptsSeen.add(request.messages.find((m) => m.role === 'user')!.content);
      if (promptsSeen.size > shardSize) await secondShard;
      const key = JSON.stringify([request.model, request.messages, request.seed, request.temperature]);
      served.set(key, (served.get(key) ?? 0) + 1);
      const probe = request.messages.some((m) => m.content === PROBE_QUESTION);
      sent.push({ model: request.model, temperature: request.temperature, probe });
      return real.chatFor(model)(request);
    },
  };
}

before(async () => {
  [env, fake] = await Promise.all([startDevServer(), startFakeOpenAI()]);
  worker = await createEvolveWorker({
    connection: env.nativeConnection,
    taskQueue: 'evolve',
    deps: countingDeps(),
    workflowBundle: (bundle = await bundleWorkflowCode({ workflowsPath })),
  });
  running = worker.run();
});
after(async () => {
  releaseSecondShard();
  worker?.shutdown();
  await running;
  await fake?.close();
  await env?.teardown();
  rmSync(root, { recursive: true, force: true });
});

/** The `temporal` binary against the test's dev server; stdout, or the CLI's error on a non-zero exit. */
async function temporal(...args: string[]): Promise<string> {
  // Only this test's server: no TEMPORAL_* setting of the caller's shell (codec, TLS, namespace) leaks in.
  const inherited = Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_'));
  const cliEnv = { ...Object.fromEntries(inherited), TEMPORAL_ADDRESS: env.address };
  try {
    const { stdout } = await promisify(execFile)(temporalCli, args, { env: cliEnv, maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const { stderr, stdout } = err as { stderr: string; stdout: string };
    throw new Error(`temporal ${args.join(' ')} failed:\n${stdout}${stderr}`, { cause: err });
  }
}
const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await temporal(...args)) as T;

const query = <T>(workflowId: string, type: string) =>
  json<{ queryResult: [T] }>('workflow', 'query', '--workflow-id', workflowId, '--type', type, '-o', 'json')
    .then((r) => r.queryResult[0])
    .catch(() => null); // the iteration has not started yet

interface HistoryEvent {
  eventId: string;
  eventType: string;
  activityTaskScheduledEventAttributes?: {
    activityType: { name: string };
    workflowTaskCompletedEventId: string;
  };
  workflowExecutionStartedEventAttributes?: { firstExecutionRunId: string };
  activityTaskCompletedEventAttributes?: { scheduledEventId: string; result: { payloads: [Payload] } };
}
/** `temporal workflow show --output json` prints payloads as they are stored: base64 JSON. */
interface Payload {
  data: string;
}
const decode = <T>(payload: Payload) => JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8')) as T;
const show = (workflowId: string, ...runArgs: string[]) =>
  temporal('workflow', 'show', '--workflow-id', workflowId, ...runArgs, '--output', 'json');
const history = async (workflowId: string) =>
  (JSON.parse(await show(workflowId)) as { events: HistoryEvent[] }).events;

const rowsOf = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

function runConfig(): RunConfig {
  const base = tinyConfig(fake.baseUrl, root, runId);
  return {
    ...base,
    iterations: 2,
    prompts: [{ kind: 'arithmetic', count: 3 * shardSize, seed: 3, maxOperand: 9 }],
    shardSize,
    // One shard at a time, so "the shards before the reset point" is a well-defined set.
    maxShardsInFlight: 1,
    sampling: { ...base.sampling, samples: 2, chainDepth: 2, temperature: 0.8 },
    trainer: { ...base.trainer, maxLength: 64 },
    evaluation: { ...base.evaluation, prompts: { kind: 'arithmetic', count: 2, seed: 99, maxOperand: 9 } },
  };
}

test('start, pause, resume, update and reset a run from the Temporal CLI alone', async () => {
  const iteration1 = `${runId}/iter-1`;
  const runJson = join(root, 'run.json');
  writeFileSync(runJson, JSON.stringify(runConfig()));

  await temporal(
    'workflow',
    'start',
    '--type',
    'evolveRun',
    '--task-queue',
    'evolve',
    '--workflow-id',
    runId,
    '--input-file',
    runJson,
  );
  // The first shard is done and the second one's sampling is held in flight.
  await until('the first training shard', async () => {
    const progress = await query<IterationProgress>(iteration1, 'progress');
    return progress !== null && progress.shardsDone >= 1;
  });

  // Pause: the run and its running iteration report it; the shard in flight may finish.
  await temporal('workflow', 'signal', '--workflow-id', runId, '--name', 'pause');
  await until('the pause to reach the iteration', async () => {
    const progress = await query<IterationProgress>(iteration1, 'progress');
    return progress?.paused === true;
  });
  const paused = (await query<RunStatus>(runId, 'status'))!;
  assert.equal(paused.status, 'paused');
  assert.equal(paused.paused, true);
  assert.equal(paused.iteration, 1);
  // `evolve show` counts the held shard's rows from its heartbeat, and no iteration is finished yet.
  const shown = await showRun(env.client, runId);
  assert.ok(
    shown.some((l) => /in flight +sampleShard 0\/\d+ rows/.test(l)),
    shown.join('\n'),
  );
  assert.ok(
    shown.some((l) => /iterations .* 0\/\d/.test(l)),
    shown.join('\n'),
  );

  // Update: a bad change is refused naming the key, a good one applies from iteration 2.
  const update = (patch: unknown) =>
    temporal(
      'workflow',
      'update',
      'execute',
      '--workflow-id',
      runId,
      '--name',
      'updateConfig',
      '--input',
      JSON.stringify(patch),
      '-o',
      'json',
    );
  await assert.rejects(update({ sampling: { temperature: 5 } }), /sampling\.temperature: Too big/);
  const accepted = JSON.parse(await update({ sampling: { temperature: 0.6 } })) as {
    result: { changed: string[]; appliesFromIteration: number };
  };
  assert.deepEqual(accepted.result, { changed: ['sampling.temperature'], appliesFromIteration: 2 });
  assert.deepEqual((await query<RunStatus>(runId, 'status'))!.pendingChanges, ['sampling.temperature']);

  // Let the held shard finish; the paused iteration then schedules nothing more.
  releaseSecondShard();
  await until('the paused iteration to go idle', async () => {
    const described = await json<{ pendingActivities?: unknown[] }>(
      'workflow',
      'describe',
      '--workflow-id',
      iteration1,
      '-o',
      'json',
    );
    return (described.pendingActivities ?? []).length === 0;
  });
  const finished = ['sample/shard-0', 'refine/shard-0', 'judge/shard-0', 'sample/shard-1'].map((f) =>
    join(root, runId, 'iter-1', 'train', `${f}.jsonl`),
  );
  const stamp = () => finished.map((f) => [f, statSync(f).mtimeMs, readFileSync(f, 'utf8')]);
  const beforeReset = stamp();

  // Reset the iteration to the workflow task that scheduled the second shard: the first shard is before
  // the reset point, the second shard's finished sampling after it.
  const scheduled = (await history(iteration1)).filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType.name === 'sampleShard',
  );
  assert.equal(scheduled.length, 2, 'the first two shards were sampled before the pause');
  const resetPoint = scheduled[1]!.activityTaskScheduledEventAttributes!.workflowTaskCompletedEventId;
  await temporal(
    'workflow',
    'reset',
    '--workflow-id',
    iteration1,
    '--event-id',
    resetPoint,
    '--reason',
    'test: redo from the second shard',
  );
  // The pause signal is re-applied to the new run: it stays paused until the run is resumed.
  await until('the reset iteration to report paused', async () => {
    const progress = await query<IterationProgress>(iteration1, 'progress');
    return progress?.paused === true;
  });
  await temporal('workflow', 'signal', '--workflow-id', runId, '--name', 'resume');

  const { result } = await json<{ result: RunResult }>(
    'workflow',
    'result',
    '--workflow-id',
    runId,
    '-o',
    'json',
  );
  assert.equal(result.iterations.length, 2);

  // The reset recomputed nothing that had finished: no request was sent twice, and the finished
  // shards' files are untouched; the rescheduled sampling of the second shard was a reuse.
  assert.deepEqual(
    [...served.entries()].filter(([, n]) => n > 1),
    [],
    'no request was sent twice',
  );
  assert.deepEqual(stamp(), beforeReset, 'finished shard outputs were not rewritten');
  const events = await history(iteration1);
  const sampled = events.filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType.name === 'sampleShard',
  );
  const reusedSamples = events.filter((e) => {
    const done = e.activityTaskCompletedEventAttributes;
    if (!done || !sampled.some((s) => s.eventId === done.scheduledEventId)) return false;
    return decode<{ reused?: boolean }>(done.result.payloads[0]).reused === true;
  });
  assert.equal(reusedSamples.length, 1, "the second shard's sampling was reused after the reset");

  // Every record exactly once, across the shards done before and after the reset.
  const records = (step: string) =>
    [0, 1, 2].flatMap((s) => rowsOf(join(root, runId, 'iter-1', 'train', step, `shard-${s}.jsonl`)));
  const generations = [...records('sample'), ...records('refine')];
  const keys = generations.map((g) => `${g.promptId}/${g.chain}/${g.step}`);
  assert.equal(records('sample').length, 3 * shardSize * 2, 'N answers per prompt');
  assert.equal(records('refine').length, 3 * shardSize * 2, 'one refinement per chain');
  assert.equal(new Set(keys).size, keys.length, 'one record per (prompt, chain, step)');
  assert.equal(records('judge').length, keys.length, 'every response judged once');

  // The update: iteration 1 sampled at the started temperature, iteration 2 (policy pi_1) at the new one.
  const checkpoint1 = result.iterations[0]!.checkpoint;
  const training = (model: string) =>
    new Set(sent.filter((r) => r.model === model && r.temperature > 0 && !r.probe).map((r) => r.temperature));
  assert.deepEqual(training(runConfig().policy.baseModel), new Set([0.8]));
  assert.deepEqual(training(checkpoint1), new Set([0.6]));

  // The histories as the CLI prints them replay against the current workflow code: the run's first
  // execution (the accepted update, then continue-as-new) and the reset iteration. With
  // EVOLVE_RECORD_HISTORIES=<dir> they are saved there, as test/fixtures/histories holds them.
  const firstRun = (await history(runId))[0]!.workflowExecutionStartedEventAttributes!.firstExecutionRunId;
  const recorded = [
    [runId, await show(runId, '--run-id', firstRun)],
    [iteration1, await show(iteration1)],
  ] as const;
  const saveTo = process.env.EVOLVE_RECORD_HISTORIES;
  for (const [workflowId, text] of recorded) {
    await Worker.runReplayHistory({ workflowBundle: bundle }, historyFromJSON(JSON.parse(text)), workflowId);
    if (saveTo) {
      mkdirSync(saveTo, { recursive: true });
      writeFileSync(join(saveTo, `${encodeURIComponent(workflowId)}.json`), text);
    }
  }
});
