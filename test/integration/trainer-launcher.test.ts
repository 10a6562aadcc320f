import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createTrainingActivities } from '../../activities/training/index.js';
import { CheckpointManifestSchema } from '../../core/checkpoint.js';
import { pythonBin, requireInstalled } from '../support/paths.js';
import { processesWith } from '../support/processes.js';
import { until } from '../support/until.js';
import { runIn, submitInput, trainer, writePairs } from '../support/training.js';

/** The ranks torchrun started (`python -u <script>`), not the launcher or the shells around it. */
const ranks = (jobDir: string) => processesWith(`-u ${join(jobDir, 'dpo.py')}`);

// A real 2-process `accelerate launch` (torchrun, gloo on the CPU) of the DPO entry point through the local
// backend: one rank killed after the first checkpoint stops the other and fails the attempt as a killed
// trainer (exit 128 + 9), the backend relaunches it, and the relaunch resumes from the checkpoint.
test('two trainer processes under accelerate launch: a killed rank fails the attempt and the relaunch resumes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'evolve-launcher-'));
  t.after(() => rmSync(dir, { recursive: true, force: true })); // checkpoints are GBs
  const pairs = await writePairs(dir, 6);
  const config = trainer({
    backend: 'local',
    python: requireInstalled(pythonBin),
    saveSteps: 1,
    launcher: { kind: 'accelerate', numProcesses: 2 },
  });
  const activities = createTrainingActivities({ pollMs: 500 });
  const env = new MockActivityEnvironment();
  const job = await runIn(env, activities.submitTraining, submitInput(dir, pairs, config, 'launcher'));
  const training = runIn(env, activities.awaitTraining, job);
  await until(
    'checkpoint-1',
    () => existsSync(join(job.outputDir, 'checkpoint-1', 'trainer_state.json')),
    600_000,
  );
  const started = ranks(job.jobDir);
  assert.equal(started.length, 2, 'two ranks train');
  process.kill(started[1]!, 'SIGKILL');
  const checkpoint = await training;

  const log = readFileSync(join(job.jobDir, 'train.log'), 'utf8');
  assert.match(log, /evolve: rank \d killed by signal 9/);
  assert.match(log, new RegExp(`evolve: resuming from ${job.outputDir}/checkpoint-\\d+`));
  const jobFile = JSON.parse(readFileSync(join(job.jobDir, 'job.json'), 'utf8')) as { attempt: number };
  assert.equal(jobFile.attempt, 2, 'relaunched once');
  // 6 pairs, one per process per step: 3 steps of 2 rows, the last saved after the resume.
  const state = JSON.parse(
    readFileSync(join(job.outputDir, 'checkpoint-3', 'trainer_state.json'), 'utf8'),
  ) as {
    global_step: number;
  };
  assert.equal(state.global_step, 3);
  assert.ok(!existsSync(join(job.outputDir, 'checkpoint-4')), 'data parallel: 3 steps, not 6');
  assert.ok(existsSync(join(checkpoint.path, 'config.json')));
  const manifest = CheckpointManifestSchema.parse(JSON.parse(readFileSync(checkpoint.manifest!, 'utf8')));
  assert.ok(Number.isFinite(manifest.metrics.train_loss));
  assert.equal(manifest.metrics.train_rows, 6);
  assert.equal(manifest.metrics.truncated_rows, 0);
  assert.deepEqual(ranks(job.jobDir), [], 'no rank outlives the job');
});
