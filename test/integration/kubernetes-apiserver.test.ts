import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { parseAllDocuments } from 'yaml';
import { createTrainingActivities } from '../../activities/training/index.js';
import type { KubernetesTrainer } from '../../core/config.js';
import { send } from '../../trainers/http.js';
import { jobName, kubernetesBackend } from '../../trainers/kubernetes.js';
import { kubeBuilt, startKubeCluster, type KubeCluster, type KubeObject } from '../support/kube-cluster.js';
import { processesWith } from '../support/processes.js';
import { remoteJob, runIn, trainer } from '../support/training.js';
import { until } from '../support/until.js';

// The Kubernetes backend against a real kube-apiserver and etcd (test/support/kube-cluster.ts): the
// shipped manifests applied server-side, the worker's service account as RBAC grants it, and the
// training Job's lifecycle. The fake API server (test/unit/kubernetes-backend.test.ts) stays for faults.
const skip = kubeBuilt()
  ? false
  : 'kube-apiserver and etcd are not built yet (bash deploy/kube-apiserver.sh; the test bootstrap builds them)';
const NAMESPACE = 'evolve'; // deploy/k8s/base's namespace
const kustomize = resolve(process.env.EVOLVE_HOME ?? '.evolve', 'deploy-tools', 'bin', 'kustomize');

let cluster: KubeCluster;
let workerToken: string;
before(async () => {
  if (skip) return;
  cluster = await startKubeCluster();
});
after(async () => cluster?.stop());

const kube = (extra: Record<string, unknown> = {}) =>
  trainer({
    backend: 'kubernetes',
    apiServer: cluster.apiServer,
    tokenEnv: 'EVOLVE_TEST_KUBE_TOKEN',
    namespace: NAMESPACE,
    image: 'ghcr.io/example/trl:1.16.0',
    ...extra,
  }) as KubernetesTrainer;

/** Whether the worker's token may do `verb` on `resource` (a SelfSubjectAccessReview, as `kubectl auth can-i`). */
async function canI(verb: string, resource: string, namespace = NAMESPACE): Promise<boolean> {
  // kubectl's spelling: <resource>[.<group>][/<subresource>], e.g. jobs.batch/status, pods/log.
  const [named, subresource] = resource.split('/') as [string, string | undefined];
  const dot = named.indexOf('.');
  const [name, group] = dot < 0 ? [named, ''] : [named.slice(0, dot), named.slice(dot + 1)];
  const reply = await send(`${cluster.apiServer}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`, {
    method: 'POST',
    headers: { authorization: `Bearer ${workerToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { namespace, verb, group, resource: name, subresource } },
    }),
  });
  assert.equal(reply.status, 201, reply.text);
  return (JSON.parse(reply.text) as { status: { allowed: boolean } }).status.allowed;
}

test(
  "the shipped manifests apply server-side; the worker's service account may do what the backend needs and nothing more",
  { skip, timeout: 300_000 },
  async () => {
    const rendered = execFileSync(kustomize, ['build', 'deploy/k8s/base'], { encoding: 'utf8' });
    const objects = parseAllDocuments(rendered).map((d) => d.toJSON() as KubeObject);
    await cluster.apply(objects);
    for (const o of objects)
      assert.equal(
        (await cluster.request('GET', await cluster.pathOf(o))).status,
        200,
        `${o.kind} ${o.metadata.name}`,
      );
    const role = await cluster.request(
      'GET',
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${NAMESPACE}/roles/evolve-training`,
    );
    assert.equal(role.status, 200);
    assert.equal(
      (role.body.metadata as { managedFields: { manager: string; operation: string }[] }).managedFields[0]!
        .operation,
      'Apply',
      'applied server-side',
    );
    // Applying again changes nothing (server-side apply is idempotent).
    await cluster.apply(objects);

    workerToken = await cluster.serviceAccountToken(NAMESPACE, 'evolve-worker');
    const needed = [
      'create jobs.batch',
      'get jobs.batch',
      'list jobs.batch',
      'watch jobs.batch',
      'delete jobs.batch',
      'list pods',
      'get pods/log',
    ];
    const refused = [
      'update jobs.batch',
      'patch jobs.batch',
      'update jobs.batch/status',
      'create pods',
      'delete pods',
      'get secrets',
      'list configmaps',
      'create serviceaccounts/token',
      'create roles.rbac.authorization.k8s.io',
    ];
    for (const what of needed) {
      const [verb, resource] = what.split(' ') as [string, string];
      assert.equal(await canI(verb, resource), true, `the worker may ${what}`);
    }
    for (const what of refused) {
      const [verb, resource] = what.split(' ') as [string, string];
      assert.equal(await canI(verb, resource), false, `the worker may not ${what}`);
    }
    assert.equal(
      await canI('create', 'jobs.batch', 'default'),
      false,
      'nor create Jobs in another namespace',
    );
    process.env.EVOLVE_TEST_KUBE_TOKEN = workerToken;
  },
);

test(
  "a training Job's lifecycle with the worker's token: created once, followed by watch, logs through pods/log, found again by a restarted worker",
  { skip, timeout: 300_000 },
  async (t) => {
    assert.ok(workerToken, 'needs the manifests applied by the test above');
    await cluster.runJobs(NAMESPACE);
    const dir = mkdtempSync(join(tmpdir(), 'evolve-kube-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const config = kube();
    const jobKey = `kube-ok-${process.pid}`;
    const job = await remoteJob(dir, jobKey, config);
    // A stand-in trainer: logs a metrics line as TRL does and saves a model, after a pause.
    const command = [
      'sh',
      '-c',
      `sleep 4; echo "{'loss': '0.25'}"; mkdir -p output && echo '{}' > output/config.json`,
    ];
    // Two workers submit at once: one Job.
    await Promise.all([
      kubernetesBackend(config).submit({ jobKey, jobDir: dir, command, env: {} }),
      kubernetesBackend(config).submit({ jobKey, jobDir: dir, command, env: {} }),
    ]);
    const path = `/apis/batch/v1/namespaces/${NAMESPACE}/jobs/${jobName(jobKey)}`;
    const created = await cluster.request('GET', path);
    assert.equal(created.status, 200);
    const uid = (created.body.metadata as { uid: string }).uid;

    // The worker restarts: fresh activities find the Job by its key, submit nothing, and await it.
    const again = kubernetesBackend(config);
    await again.submit({ jobKey, jobDir: dir, command: ['false'], env: {} });
    assert.equal(
      ((await cluster.request('GET', path)).body.metadata as { uid: string }).uid,
      uid,
      'the same Job',
    );
    const activities = createTrainingActivities({ pollMs: 600_000, watchMs: 60_000 });
    const started = Date.now();
    const checkpoint = await runIn(new MockActivityEnvironment(), activities.awaitTraining, job);
    assert.ok(Date.now() - started < 60_000, 'woken by the watch, not the 10-minute poll');
    assert.equal(checkpoint.path, job.outputDir);
    assert.equal(checkpoint.metrics.loss, 0.25, "the metrics line read from the pod's log through pods/log");
    assert.deepEqual(
      cluster.pods.filter((p) => p.job === jobName(jobKey)).map((p) => p.exitCode),
      [0],
      'one pod ran',
    );
    assert.deepEqual(cluster.errors, [], 'the API server took every status update');
  },
);

test(
  'a failing pod is retried to backoffLimit and the Job fails with the reason; cancel deletes a running Job and its pod',
  { skip, timeout: 300_000 },
  async () => {
    assert.ok(workerToken, 'needs the manifests applied by the first test');
    const failing = kubernetesBackend(kube({ maxRestarts: 1 }));
    const job = { jobKey: `kube-fail-${process.pid}`, jobDir: tmpdir() };
    await failing.submit({ ...job, command: ['sh', '-c', 'echo attempt; exit 3'], env: {} });
    await until('the Job to fail', async () => (await failing.find(job))?.state === 'failed');
    assert.match((await failing.find(job))!.detail!, /BackoffLimitExceeded/);
    assert.equal((await failing.logs(job)).match(/attempt/g)?.length, 2, 'one pod and one retry, both logs');

    const backend = kubernetesBackend(kube());
    const marker = `evolve-kube-cancel-${process.pid}`;
    const sleeper = { jobKey: marker, jobDir: tmpdir() };
    await backend.submit({ ...sleeper, command: ['sh', '-c', `sleep 300 # ${marker}`], env: {} });
    await until('the pod to run', () => processesWith(marker).length > 0);
    assert.equal((await backend.find(sleeper))?.state, 'running');
    await backend.cancel(sleeper);
    assert.equal(await backend.find(sleeper), null);
    await until('the pod process to exit', () => processesWith(marker).length === 0);
    await backend.cancel(sleeper); // a second cancel of a gone Job is fine
    assert.deepEqual(cluster.errors, [], 'the API server took every status update');
  },
);
