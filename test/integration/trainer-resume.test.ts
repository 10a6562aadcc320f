import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { ActivityCancellationDetails, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createTrainingActivities } from '../../activities/training/index.js';
import { backendFor } from '../../trainers/index.js';
import { CheckpointManifestSchema, RecipeSchema } from '../../core/checkpoint.js';
import { baseModel, pythonBin, requireInstalled } from '../support/paths.js';
import { processesWith } from '../support/processes.js';
import { until } from '../support/until.js';
import { runIn, submitInput, trainer, writePairs } from '../support/training.js';
import { scratchDir } from '../support/scratch.js';

// Real `trl dpo` on the CPU with the tiny model, as the local backend runs it.
const local = (extra: Record<string, unknown> = {}) =>
  trainer({ backend: 'local', python: requireInstalled(pythonBin), ...extra });

/** The trainer's own python process (not the shells around it, whose argv holds the python path apart). */
const trainerProcesses = (jobDir: string) => processesWith(`bin/python ${join(jobDir, 'dpo.py')}`);

test('a trainer killed mid-training is restarted and resumes from its last checkpoint', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'evolve-resume-'));
  t.after(() => rmSync(dir, { recursive: true, force: true })); // checkpoints are GBs
  const pairs = await writePairs(dir, 3);
  const config = local({ saveSteps: 1 });
  const activities = createTrainingActivities({ pollMs: 500 });
  const env = new MockActivityEnvironment();
  const job = await runIn(env, activities.submitTraining, submitInput(dir, pairs, config, 'resume'));
  const training = runIn(env, activities.awaitTraining, job);
  const saved = join(job.outputDir, 'checkpoint-1', 'trainer_state.json');
  await until('checkpoint-1', () => existsSync(saved), 600_000);
  const [pid] = trainerProcesses(job.jobDir);
  assert.ok(pid, 'the trainer runs');
  process.kill(pid, 'SIGKILL');
  const checkpoint = await training;

  const log = readFileSync(join(job.jobDir, 'train.log'), 'utf8');
  assert.match(log, new RegExp(`evolve: resuming from ${job.outputDir}/checkpoint-\\d+`));
  const jobFile = JSON.parse(readFileSync(join(job.jobDir, 'job.json'), 'utf8')) as { attempt: number };
  assert.equal(jobFile.attempt, 2);
  // The resumed run finished the remaining steps: 3 pairs, one per step.
  const state = JSON.parse(
    readFileSync(join(job.outputDir, 'checkpoint-3', 'trainer_state.json'), 'utf8'),
  ) as {
    global_step: number;
  };
  assert.equal(state.global_step, 3);
  assert.ok(existsSync(join(checkpoint.path, 'config.json')));

  const manifest = CheckpointManifestSchema.parse(JSON.parse(readFileSync(checkpoint.manifest!, 'utf8')));
  assert.equal(manifest.baseModel, baseModel);
  assert.equal(manifest.parent, baseModel);
  assert.equal(manifest.adapter, false);
  assert.equal(manifest.data.sha256, pairs.sha256);
  assert.equal(manifest.data.rows, 3);
  assert.match(manifest.recipe.sha256, /^[0-9a-f]{64}$/);
  assert.equal(manifest.trainer.backend, 'local');
  assert.equal(manifest.versions.trl, '1.16.0');
  assert.ok(manifest.versions.transformers && manifest.versions.torch, JSON.stringify(manifest.versions));
  assert.ok(Number.isFinite(manifest.metrics.train_loss));
  const recipe = RecipeSchema.parse(JSON.parse(readFileSync(manifest.recipe.uri, 'utf8')));
  assert.ok(recipe.openrlhf?.includes('openrlhf.cli.train_dpo'));
});

test('cancelling training kills the trainer and leaves the job stopped, not restarted', async (t) => {
  const dir = scratchDir('evolve-cancel-', t);
  t.after(() => rmSync(dir, { recursive: true, force: true })); // checkpoints are GBs
  const pairs = await writePairs(dir, 4);
  const config = local({ epochs: 50 });
  const activities = createTrainingActivities({ pollMs: 200 });
  const env = new MockActivityEnvironment();
  const job = await runIn(env, activities.submitTraining, submitInput(dir, pairs, config, 'cancel'));
  const training = runIn(env, activities.awaitTraining, job);
  await until('the trainer to start', () => trainerProcesses(job.jobDir).length > 0);
  env.cancel();
  await assert.rejects(training, (err) => err instanceof CancelledFailure);
  assert.deepEqual(trainerProcesses(job.jobDir), []);
  assert.equal((await backendFor(config).find(job))?.state, 'stopped');
  await sleep(1000);
  assert.deepEqual(trainerProcesses(job.jobDir), [], 'nothing restarted it');
});

// What the OOM killer did to a real run: a worker stalled by memory pressure misses its heartbeats, the
// server times the attempt out and the worker cancels it. That is not the workflow's cancel: the trainer keeps
// going and the next attempt re-attaches to it instead of finding the job stopped.
test('a heartbeat timeout leaves the trainer running; the next attempt re-attaches and finishes', async (t) => {
  const dir = scratchDir('evolve-timedout-', t);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pairs = await writePairs(dir, 2);
  const config = local();
  const activities = createTrainingActivities({ pollMs: 200 });
  const first = new MockActivityEnvironment();
  const job = await runIn(first, activities.submitTraining, submitInput(dir, pairs, config, 'timedout'));
  const training = runIn(first, activities.awaitTraining, job);
  await until('the trainer to start', () => trainerProcesses(job.jobDir).length > 0);
  const [pid] = trainerProcesses(job.jobDir);
  first.cancel('TIMED_OUT', new ActivityCancellationDetails({ timedOut: true }));
  await assert.rejects(training, (err) => err instanceof CancelledFailure);
  assert.deepEqual(trainerProcesses(job.jobDir), [pid], 'the same trainer still runs');
  assert.equal((await backendFor(config).find(job))?.state, 'running');

  const checkpoint = await runIn(new MockActivityEnvironment(), activities.awaitTraining, job);
  assert.ok(existsSync(join(checkpoint.path, 'config.json')));
  const jobFile = JSON.parse(readFileSync(join(job.jobDir, 'job.json'), 'utf8')) as { attempt: number };
  assert.equal(jobFile.attempt, 1, 'never relaunched');
});
