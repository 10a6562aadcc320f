import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createTrainingActivities } from '../../activities/training/index.js';
import { send } from '../../activities/training/http.js';
import { rayBackend } from '../../activities/training/ray.js';
import { CheckpointManifestSchema } from '../../core/checkpoint.js';
import type { RayTrainer } from '../../core/config.js';
import { pythonBin, rayBin } from '../support/paths.js';
import { processesWith } from '../support/processes.js';
import { until } from '../support/until.js';
import { startRayHead, type RayHead } from '../support/ray-head.js';
import { runIn, submitInput, trainer, writePairs } from '../support/training.js';

// A real Ray head (the PyPI `ray` package) on loopback: jobs go through its Jobs REST API.
const skip = existsSync(rayBin) ? false : `${rayBin} is missing: run \`npm run bootstrap\``;
let head: RayHead;
before(async () => {
  if (!skip) head = await startRayHead(rayBin);
});
after(async () => head?.stop());

const rayTrainer = (extra: Record<string, unknown> = {}) =>
  trainer({ backend: 'ray', address: head.address, python: pythonBin, ...extra }) as RayTrainer;

test(
  'a Ray job is found by its key, a second submit adds none, and cancel stops its process',
  { skip },
  async () => {
    const backend = rayBackend(rayTrainer());
    const marker = `evolve-ray-${process.pid}-${Date.now()}`;
    const job = { jobKey: marker, jobDir: tmpdir() };
    assert.equal(await backend.find(job), null);
    const sleeper = `import time; print("${marker} up", flush=True); time.sleep(600)`;
    await backend.submit({ ...job, command: [pythonBin, '-c', sleeper], env: {} });
    await backend.submit({ ...job, command: [pythonBin, '-c', 'print("second")'], env: {} });
    const jobs = JSON.parse((await send(`${head.address}/api/jobs/`)).text) as { submission_id: string }[];
    assert.equal(jobs.filter((j) => j.submission_id === marker).length, 1);
    await until('the job to log', async () => (await backend.logs(job)).includes(`${marker} up`));
    assert.equal((await backend.find(job))?.state, 'running');
    assert.ok(processesWith(`${marker} up`).length > 0, 'the entrypoint runs on this machine');
    await backend.cancel(job);
    assert.equal((await backend.find(job))?.state, 'stopped');
    await until(
      'the entrypoint process to exit',
      async () => processesWith(`${marker} up`).length === 0,
      30_000,
    );
  },
);

test('real trl dpo runs as a Ray job and registers its checkpoint', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'evolve-ray-train-'));
  t.after(() => rmSync(dir, { recursive: true, force: true })); // checkpoints are GBs
  const pairs = await writePairs(dir, 2);
  const config = rayTrainer({ runtimeEnv: { env_vars: { HF_HUB_OFFLINE: '1', OMP_NUM_THREADS: '1' } } });
  const activities = createTrainingActivities({ pollMs: 500 });
  const env = new MockActivityEnvironment();
  const heartbeats: { lastStatus: string; backend: string }[] = [];
  env.on('heartbeat', (d: { lastStatus: string; backend: string }) => heartbeats.push(d));
  const job = await runIn(
    env,
    activities.submitTraining,
    submitInput(dir, pairs, config, `ray-train-${process.pid}`),
  );
  // Idempotent: the same key submits nothing new.
  assert.deepEqual(
    await runIn(env, activities.submitTraining, submitInput(dir, pairs, config, job.jobKey)),
    job,
  );
  const checkpoint = await runIn(env, activities.awaitTraining, job);
  assert.ok(existsSync(join(checkpoint.path, 'config.json')));
  assert.ok(heartbeats.some((h) => h.backend === 'ray' && ['pending', 'running'].includes(h.lastStatus)));
  const manifest = CheckpointManifestSchema.parse(JSON.parse(readFileSync(checkpoint.manifest!, 'utf8')));
  assert.equal(manifest.trainer.backend, 'ray');
  assert.equal(manifest.data.sha256, pairs.sha256);
  assert.equal(manifest.versions.trl, '1.16.0');
  assert.ok(Number.isFinite(manifest.metrics.train_loss));
  assert.ok(existsSync(join(job.jobDir, 'train.log')), 'the Ray job log is kept next to the checkpoint');
});
