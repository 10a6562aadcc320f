import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createTrainingActivities } from '../../activities/training/index.js';
import { send } from '../../trainers/http.js';
import { rayBackend, submissionId } from '../../trainers/ray.js';
import { CheckpointManifestSchema } from '../../core/checkpoint.js';
import type { RayTrainer } from '../../core/config.js';
import { pythonBin, rayBin } from '../support/paths.js';
import { processesWith } from '../support/processes.js';
import { until } from '../support/until.js';
import { startRayCluster, type RayCluster } from '../support/ray-cluster.js';
import { runIn, submitInput, trainer, writePairs } from '../support/training.js';

// A real two-node Ray cluster (the PyPI `ray` package) on loopback, one for the file: jobs go through
// the head's Jobs REST API.
const skip = existsSync(rayBin) ? false : `${rayBin} is missing: run \`npm run bootstrap\``;
let head: RayCluster;
before(async () => {
  if (!skip) head = await startRayCluster(rayBin);
});
after(async () => head?.stop());

/** The head's record of a submission: its status and the node its driver (the entrypoint) runs on. */
const rayJob = async (id: string) =>
  JSON.parse((await send(`${head.address}/api/jobs/${id}`)).text) as {
    status: string;
    driver_node_id?: string;
  };

const submissionIds = async () =>
  (JSON.parse((await send(`${head.address}/api/jobs/`)).text) as { submission_id: string }[]).map(
    (j) => j.submission_id,
  );

const rayTrainer = (extra: Record<string, unknown> = {}) =>
  trainer({ backend: 'ray', address: head.address, python: pythonBin, ...extra }) as RayTrainer;

test(
  'a Ray job is found by its key, a second submit adds none, and cancel stops its process',
  { skip },
  async () => {
    const backend = rayBackend(rayTrainer());
    // evolve doctor's check: the dashboard's version endpoint, with the installed Ray's version.
    const ray = await backend.probe!();
    assert.match(ray, new RegExp(`^ray: ${head.address}, Ray \\d+\\.\\d+`), ray);
    const marker = `evolve-ray-${process.pid}-${Date.now()}`;
    const job = { jobKey: marker, jobDir: tmpdir() };
    assert.equal(await backend.find(job), null);
    const sleeper = `import time; print("${marker} up", flush=True); time.sleep(600)`;
    await backend.submit({ ...job, command: [pythonBin, '-c', sleeper], env: {} });
    await backend.submit({ ...job, command: [pythonBin, '-c', 'print("second")'], env: {} });
    assert.equal((await submissionIds()).filter((id) => id === marker).length, 1);
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

test(
  'a FAILED Ray job with restarts left is resubmitted under a new id; without any left it stays failed',
  { skip },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'evolve-ray-restart-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // Fails on its first run, succeeds on the next: what a trainer resuming from a checkpoint does.
    const flaky = `if [ -e ${dir}/ran ]; then echo second run; else touch ${dir}/ran; echo first run; exit 3; fi`;
    const backend = rayBackend(rayTrainer({ maxRestarts: 1 }));
    const job = { jobKey: `evolve-ray-restart-${process.pid}-${Date.now()}`, jobDir: dir };
    await backend.submit({ ...job, command: ['sh', '-c', flaky], env: {} });
    const seen: string[] = [];
    await until(
      'the resubmitted attempt to succeed',
      async () => {
        const status = await backend.find(job);
        seen.push(`${status?.state}: ${status?.detail ?? ''}`);
        return status?.state === 'succeeded';
      },
      120_000,
    );
    assert.ok(
      seen.some((s) => s.includes(`resubmitted as ${submissionId(job.jobKey, 2)}`)),
      seen.join('\n'),
    );
    const ids = (await submissionIds()).filter((id) => id.startsWith(job.jobKey));
    assert.deepEqual(ids.sort(), [job.jobKey, `${job.jobKey}-attempt2`]);
    const logs = await backend.logs(job);
    const lines = logs.split('\n');
    assert.ok(lines.includes('first run') && lines.indexOf('first run') < lines.indexOf('second run'), logs);

    const once = rayBackend(rayTrainer({ maxRestarts: 0 }));
    const failing = { jobKey: `evolve-ray-fail-${process.pid}-${Date.now()}`, jobDir: dir };
    await once.submit({ ...failing, command: ['sh', '-c', 'exit 4'], env: {} });
    await until('the job to fail', async () => (await once.find(failing))?.state === 'failed', 120_000);
    assert.equal(await once.find({ ...failing, jobKey: submissionId(failing.jobKey, 2) }), null);
  },
);

test(
  'real trl dpo placed on the second node survives a worker restart, is submitted once and registers its checkpoint',
  { skip },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'evolve-ray-train-'));
    t.after(() => rmSync(dir, { recursive: true, force: true })); // checkpoints are GBs
    const pairs = await writePairs(dir, 2);
    const config = rayTrainer({
      runtimeEnv: { env_vars: { HF_HUB_OFFLINE: '1', OMP_NUM_THREADS: '1' } },
      entrypointResources: { [head.second.resource]: 1 },
    });
    const input = (jobKey: string) => submitInput(dir, pairs, config, jobKey);
    const job = await runIn(
      new MockActivityEnvironment(),
      createTrainingActivities({ pollMs: 500 }).submitTraining,
      input(`ray-train-${process.pid}`),
    );
    await until(
      'the job to run on the second node',
      async () => {
        const { status, driver_node_id } = await rayJob(job.jobKey);
        return status === 'RUNNING' && driver_node_id === head.second.nodeId;
      },
      120_000,
    );
    // The worker is gone: a new one runs the activities afresh, as Temporal retries them, with the same key.
    const restarted = createTrainingActivities({ pollMs: 500 });
    const env = new MockActivityEnvironment();
    const heartbeats: { lastStatus: string; backend: string }[] = [];
    env.on('heartbeat', (d: { lastStatus: string; backend: string }) => heartbeats.push(d));
    assert.deepEqual(await runIn(env, restarted.submitTraining, input(job.jobKey)), job);
    const checkpoint = await runIn(env, restarted.awaitTraining, job);
    assert.deepEqual(
      (await submissionIds()).filter((id) => id.startsWith(job.jobKey)),
      [job.jobKey],
      'one Ray job for the key: the restarted worker attached to it',
    );
    assert.equal((await rayJob(job.jobKey)).driver_node_id, head.second.nodeId);
    assert.ok(existsSync(join(checkpoint.path, 'config.json')));
    assert.ok(heartbeats.some((h) => h.backend === 'ray' && ['pending', 'running'].includes(h.lastStatus)));
    const manifest = CheckpointManifestSchema.parse(JSON.parse(readFileSync(checkpoint.manifest!, 'utf8')));
    assert.equal(manifest.trainer.backend, 'ray');
    assert.equal(manifest.data.sha256, pairs.sha256);
    assert.equal(manifest.versions.trl, '1.16.0');
    assert.ok(Number.isFinite(manifest.metrics.train_loss));
    assert.ok(existsSync(join(job.jobDir, 'train.log')), 'the Ray job log is kept next to the checkpoint');
  },
);
