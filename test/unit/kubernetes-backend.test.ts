import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createTrainingActivities } from '../../activities/training/index.js';
import { jobManifest, jobName, kubernetesBackend } from '../../trainers/kubernetes.js';
import type { KubernetesTrainer } from '../../core/config.js';
import { ConfigError } from '../../core/config.js';
import { startFakeKubernetes, type FakeKubernetes } from '../support/fake-kubernetes.js';
import { processesWith } from '../support/processes.js';
import { until } from '../support/until.js';
import { remoteJob, runIn, trainer } from '../support/training.js';

let api: FakeKubernetes;
before(async () => {
  api = await startFakeKubernetes();
  process.env.EVOLVE_TEST_KUBE_TOKEN = api.token;
});
after(async () => api?.close());

const kube = (extra: Record<string, unknown> = {}) =>
  trainer({
    backend: 'kubernetes',
    apiServer: api?.apiServer ?? 'http://127.0.0.1:1',
    tokenEnv: 'EVOLVE_TEST_KUBE_TOKEN',
    namespace: 'training',
    image: 'ghcr.io/example/trl:1.16.0',
    ...extra,
  }) as KubernetesTrainer;

const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

test('job names are DNS-1123 labels: a fitting key as it is, a long or odd key hashed', () => {
  assert.equal(jobName('demo-iter1-dpo-0123456789abcdef'), 'demo-iter1-dpo-0123456789abcdef');
  const long = `${'a'.repeat(40)}.run_1-iter12-dpo-0123456789abcdef`;
  const other = `${'a'.repeat(40)}.run_1-iter13-dpo-0123456789abcdef`;
  for (const key of [long, 'Run.With_Odd-Chars', '-x-']) {
    const name = jobName(key);
    assert.match(name, DNS_1123_LABEL);
    assert.ok(name.length <= 63, name);
  }
  assert.notEqual(jobName(long), jobName(other));
  assert.notEqual(jobName('a.b'), jobName('a_b'), 'keys that clean to the same text stay apart');
});

test('the Job manifest carries the image, GPUs, node selector, tolerations, the PVC and the retry limit', () => {
  const config = kube({
    gpus: 2,
    memory: '64Gi',
    nodeSelector: { 'nvidia.com/gpu.product': 'H100' },
    tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
    volume: { claimName: 'evolve-artifacts', mountPath: '/artifacts' },
    serviceAccountName: 'evolve-trainer',
    maxRestarts: 3,
  });
  const m = jobManifest(config, {
    jobKey: 'k1',
    jobDir: '/artifacts/run/k1',
    command: ['trl', 'dpo'],
    env: { PYTHONUNBUFFERED: '1' },
  });
  assert.equal(m.apiVersion, 'batch/v1');
  assert.equal(m.kind, 'Job');
  assert.equal(m.metadata.namespace, 'training');
  assert.equal(m.metadata.annotations['evolve.dev/job-key'], 'k1');
  assert.equal(m.spec.backoffLimit, 3);
  const pod = m.spec.template.spec;
  assert.equal(pod.restartPolicy, 'Never');
  assert.equal(pod.serviceAccountName, 'evolve-trainer');
  assert.deepEqual(pod.nodeSelector, { 'nvidia.com/gpu.product': 'H100' });
  assert.deepEqual(pod.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  assert.deepEqual(pod.volumes, [
    { name: 'artifacts', persistentVolumeClaim: { claimName: 'evolve-artifacts' } },
  ]);
  const [c] = pod.containers;
  assert.equal(c!.image, 'ghcr.io/example/trl:1.16.0');
  assert.deepEqual(c!.command, ['trl', 'dpo']);
  assert.equal(c!.workingDir, '/artifacts/run/k1');
  assert.deepEqual(c!.resources.limits, { 'nvidia.com/gpu': '2' });
  assert.deepEqual(c!.resources.requests, { memory: '64Gi' });
  assert.deepEqual(c!.volumeMounts, [{ name: 'artifacts', mountPath: '/artifacts' }]);
  assert.deepEqual(c!.env, [{ name: 'PYTHONUNBUFFERED', value: '1' }]);
});

test('a Job is created once per key, followed to completion, and its pod logs read', async () => {
  const backend = kubernetesBackend(kube());
  const job = { jobKey: `k8s-ok-${process.pid}`, jobDir: mkdtempSync(join(tmpdir(), 'evolve-k8s-')) };
  assert.equal(await backend.find(job), null);
  const command = ['sh', '-c', 'echo "pod says hi from $PWD"; sleep 1'];
  // Two submits race: both look the key up, both create, one is answered 409 AlreadyExists.
  await Promise.all([
    backend.submit({ ...job, command, env: {} }),
    kubernetesBackend(kube()).submit({ ...job, command, env: {} }),
  ]);
  const creates = () => api.requests.filter((r) => r.method === 'POST').length;
  assert.equal(creates(), 2);
  assert.equal(api.jobs.size, 1);
  // A later submit finds the Job and creates nothing.
  await backend.submit({ ...job, command: ['false'], env: {} });
  assert.equal(creates(), 2);
  assert.equal((await backend.find(job))?.state, 'running');
  await until('the Job to complete', async () => (await backend.find(job))?.state === 'succeeded');
  assert.match(await backend.logs(job), new RegExp(`pod says hi from ${job.jobDir}`));
});

test('a failed pod is retried up to backoffLimit, then the Job fails with the reason', async () => {
  const backend = kubernetesBackend(kube({ maxRestarts: 1 }));
  const job = { jobKey: `k8s-fail-${process.pid}`, jobDir: tmpdir() };
  await backend.submit({ ...job, command: ['sh', '-c', 'echo attempt; exit 3'], env: {} });
  await until('the Job to fail', async () => (await backend.find(job))?.state === 'failed');
  const status = await backend.find(job);
  assert.match(status!.detail!, /BackoffLimitExceeded/);
  assert.equal((await backend.logs(job)).match(/attempt/g)?.length, 2, 'one pod and one retry');
});

test('cancel deletes the Job in the background and its pod process is gone', async () => {
  const backend = kubernetesBackend(kube());
  const marker = `evolve-k8s-cancel-${process.pid}`;
  const job = { jobKey: marker, jobDir: tmpdir() };
  await backend.submit({ ...job, command: ['sh', '-c', `sleep 300 # ${marker}`], env: {} });
  await until('the pod to run', () => processesWith(marker).length > 0);
  await backend.cancel(job);
  const del = api.requests.find((r) => r.method === 'DELETE' && r.path.endsWith(`/jobs/${jobName(marker)}`));
  assert.deepEqual(del?.body, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' });
  assert.equal(await backend.find(job), null);
  await until('the pod process to exit', () => processesWith(marker).length === 0);
  await backend.cancel(job); // a second cancel of a gone Job is fine
});

test('a wrong token fails at once with the API server message, not as a retryable error', async () => {
  process.env.EVOLVE_TEST_WRONG_KUBE_TOKEN = 'nope';
  const backend = kubernetesBackend(kube({ tokenEnv: 'EVOLVE_TEST_WRONG_KUBE_TOKEN' }));
  await assert.rejects(
    backend.find({ jobKey: 'x', jobDir: tmpdir() }),
    (err: Error) => err instanceof ConfigError && /answered 401: Unauthorized/.test(err.message),
  );
  const unset = kubernetesBackend(kube({ tokenEnv: 'EVOLVE_TEST_UNSET_KUBE_TOKEN' }));
  await assert.rejects(
    unset.find({ jobKey: 'x', jobDir: tmpdir() }),
    /EVOLVE_TEST_UNSET_KUBE_TOKEN is not set/,
  );
});

test('a watch on the Job wakes on its change, not on a poll; it ends at its timeout or on abort', async () => {
  const backend = kubernetesBackend(kube());
  const job = { jobKey: `k8s-watch-${process.pid}`, jobDir: tmpdir() };
  await backend.submit({ ...job, command: ['sh', '-c', 'sleep 2'], env: {} });
  const running = await backend.find(job);
  assert.equal(running?.state, 'running');
  const started = Date.now();
  await backend.watch!(job, running!, { timeoutMs: 60_000, signal: new AbortController().signal });
  assert.ok(Date.now() - started < 30_000, 'woken by the completion, long before the timeout');
  assert.equal((await backend.find(job))?.state, 'succeeded');
  const watched = api.requests.find((r) => r.method === 'GET' && r.path.includes('watch=true'));
  const query = new URL(watched!.path, 'http://x').searchParams;
  assert.equal(query.get('fieldSelector'), `metadata.name=${jobName(job.jobKey)}`);
  assert.equal(query.get('timeoutSeconds'), '60');
  const names = api.events.filter((e) => e.name === jobName(job.jobKey)).map((e) => e.type);
  assert.equal(names[0], 'ADDED', 'the current state first');
  assert.ok(names.includes('MODIFIED'));

  // Nothing changes: the server ends the watch after timeoutSeconds; an abort ends it at once.
  const sleeper = { jobKey: `k8s-watch-idle-${process.pid}`, jobDir: tmpdir() };
  await backend.submit({ ...sleeper, command: ['sh', '-c', 'sleep 300'], env: {} });
  await until('the pod to run', async () => (await backend.find(sleeper))?.state === 'running');
  const idle = { state: 'running' } as const;
  let t0 = Date.now();
  await backend.watch!(sleeper, idle, { timeoutMs: 1000, signal: new AbortController().signal });
  assert.ok(Date.now() - t0 >= 900, 'no change: it waited for the timeout');
  const abort = new AbortController();
  setTimeout(() => abort.abort(), 200);
  t0 = Date.now();
  await backend.watch!(sleeper, idle, { timeoutMs: 60_000, signal: abort.signal });
  assert.ok(Date.now() - t0 < 10_000, 'the abort ended it');
  // Deleting the Job ends a watch on it.
  const deleted = backend.watch!(sleeper, idle, { timeoutMs: 60_000, signal: new AbortController().signal });
  await backend.cancel(sleeper);
  await deleted;
});

/** A Job submitted with `script` as its pod, and the TrainingJob that awaitTraining follows. */
async function submitted(t: TestContext, name: string, script: string, extra: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), `evolve-k8s-${name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = kube(extra);
  const jobKey = `k8s-${name}-${process.pid}`;
  const job = await remoteJob(dir, jobKey, config);
  await kubernetesBackend(config).submit({ jobKey, jobDir: dir, command: ['sh', '-c', script], env: {} });
  return job;
}

// A stand-in trainer: saves a model and logs a metrics line, as TRL does, after `s` seconds.
const standIn = (s: number) =>
  `sleep ${s}; mkdir -p output && echo '{}' > output/config.json; echo "{'loss': '0.5'}"`;

test(
  'awaitTraining on Kubernetes is woken by the watch, not by its poll interval',
  { timeout: 60_000 },
  async (t) => {
    const job = await submitted(t, 'await', standIn(1));
    const activities = createTrainingActivities({ pollMs: 600_000, watchMs: 60_000 });
    const started = Date.now();
    const checkpoint = await runIn(new MockActivityEnvironment(), activities.awaitTraining, job);
    assert.ok(Date.now() - started < 30_000, 'the watch saw the Job complete; no 10-minute poll');
    assert.equal(checkpoint.path, job.outputDir);
    assert.equal(checkpoint.metrics.loss, 0.5);
  },
);

test('an API server that is down is waited for, with the wait in the heartbeat, until its budget', async (t) => {
  const job = await submitted(t, 'outage', standIn(2));
  const activities = createTrainingActivities({ pollMs: 200, watchMs: 1000 });
  const env = new MockActivityEnvironment();
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  api.down = true;
  t.after(() => (api.down = false));
  const training = runIn(env, activities.awaitTraining, job);
  await until('a heartbeat saying what it waits for', () =>
    beats.some((b) => JSON.stringify(b).includes('waiting for kubernetes training backend since')),
  );
  await sleep(3000); // the Job finishes while nobody can look
  api.down = false;
  const checkpoint = await training;
  assert.equal(checkpoint.metrics.loss, 0.5, 'followed to completion after the outage');

  // With a budget of 2 seconds, an outage longer than that fails the step for good, saying why.
  const short = await submitted(t, 'budget', standIn(30), { outageBudgetHours: 2 / 3600 });
  api.down = true;
  await assert.rejects(
    runIn(new MockActivityEnvironment(), activities.awaitTraining, short),
    (err: Error & { nonRetryable?: boolean }) =>
      err.nonRetryable === true && /longer than its outage budget/.test(err.message),
  );
  api.down = false;
  await kubernetesBackend(kube()).cancel(short); // its pod must not outlive the test's directory
});
