import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { checkTrainer } from '../../client/doctor.js';
import { TrainerSchema } from '../../core/config.js';
import { startFakeKubernetes, type FakeKubernetes } from '../support/fake-kubernetes.js';

// A remote trainer's python is a path in the cluster's image: doctor asks the cluster instead of
// looking for that path here (it used to report a false FAIL for every Ray or Kubernetes config).
let fake: FakeKubernetes;
before(async () => {
  fake = await startFakeKubernetes();
});
after(async () => {
  await fake?.close();
});

const kubernetes = (tokenEnv: string) =>
  TrainerSchema.parse({
    backend: 'kubernetes',
    apiServer: fake.apiServer,
    tokenEnv,
    namespace: 'evolve',
    image: 'trainer',
    python: '/opt/venv/bin/python',
  });

test('doctor checks a Kubernetes trainer by listing its Jobs with the worker credentials', async () => {
  process.env.EVOLVE_TEST_KUBE_TOKEN = fake.token;
  const good = await checkTrainer(kubernetes('EVOLVE_TEST_KUBE_TOKEN'));
  assert.deepEqual(good, {
    ok: true,
    detail: `kubernetes: ${fake.apiServer}, namespace evolve: Jobs readable`,
  });
  assert.ok(
    fake.requests.some(
      (r) => r.method === 'GET' && r.path === '/apis/batch/v1/namespaces/evolve/jobs?limit=1',
    ),
  );

  process.env.EVOLVE_TEST_KUBE_TOKEN = 'wrong';
  const bad = await checkTrainer(kubernetes('EVOLVE_TEST_KUBE_TOKEN'));
  assert.equal(bad.ok, false);
  assert.match(bad.detail, /Kubernetes API \(namespace evolve\): GET .*\/jobs\?limit=1 answered 401/);
  assert.doesNotMatch(bad.detail, /wrong/, 'the token is not in the message');
});

test('doctor reports a Ray trainer whose dashboard does not answer, naming the address', async () => {
  const trainer = TrainerSchema.parse({
    backend: 'ray',
    address: 'http://127.0.0.1:9',
    python: '/opt/venv/bin/python',
  });
  const result = await checkTrainer(trainer);
  assert.equal(result.ok, false);
  assert.doesNotMatch(result.detail, /does not exist/, 'no local path check for a cluster python');
});
