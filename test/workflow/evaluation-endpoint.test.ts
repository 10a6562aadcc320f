import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Endpoint } from '../../core/config.js';
import { parseRunConfig } from '../../core/config.js';
import type { ServeInput } from '../../core/steps.js';
import { demoConfig } from '../support/config.js';
import { recordingActivities } from '../support/recording-activities.js';
import { useTimeSkippingServer } from '../support/time-skipping.js';

const server = useTimeSkippingServer();

test('evaluation.endpoint: the evaluation and its suites generate there; the policy server never sees a greedy request', async () => {
  const id = 'eval-endpoint';
  const calls: string[] = [];
  const recording = recordingActivities(calls);
  // Which server each generation step went to, and at what temperature; what the serve probe used.
  const sent: string[] = [];
  const probes: ServeInput['probe'][] = [];
  type Generation = {
    scope: { dir: string };
    policy: { endpoint: Endpoint };
    params: { temperature: number };
  };
  const where = (step: string, i: Generation) =>
    `${step} ${i.scope.dir.split('/').slice(3).join('/')} ${i.policy.endpoint.baseUrl} t=${i.params.temperature}`;
  const activities = {
    ...recording,
    sampleShard: async (i: Generation & Parameters<typeof recording.sampleShard>[0]) => {
      sent.push(where('sample', i));
      return recording.sampleShard(i);
    },
    refineChain: async (i: Generation & Parameters<typeof recording.refineChain>[0]) => {
      sent.push(where('refine', i));
      return recording.refineChain(i);
    },
    serveCheckpoint: async (i: ServeInput) => {
      probes.push(i.probe);
      sent.push(`serve ${i.endpoint.baseUrl}`);
      return recording.serveCheckpoint(i);
    },
  };
  const worker = await server.worker(id, activities);
  const base = demoConfig();
  const evaluationServer = 'http://127.0.0.1:9/v1';
  const config = demoConfig({
    runId: id,
    iterations: 1,
    artifactRoot: '/a',
    sampling: { ...base.sampling, temperature: 0.8, topP: 0.95 },
    evaluation: {
      ...base.evaluation,
      iterationZero: true,
      temperature: 0,
      endpoint: { ...base.policy.endpoint, baseUrl: evaluationServer },
      suites: [
        { name: 'gsm', kind: 'accuracy', prompts: { kind: 'file', path: 'gsm.jsonl' }, verifier: 'numeric' },
      ],
    },
  });
  await worker.runUntil(async () => {
    const handle = await server.env.client.workflow.start('evolveRun', {
      taskQueue: id,
      workflowId: id,
      args: [config],
    });
    await handle.result();
  });
  const policyServer = config.policy.endpoint.baseUrl!;
  const generations = sent.filter((s) => !s.startsWith('serve'));
  for (const line of generations) {
    const phase = line.split(' ')[1]!.split('/')[1]!;
    if (phase.startsWith('eval') || phase.startsWith('suite-'))
      assert.ok(line.endsWith(`${evaluationServer} t=0`), `evaluation on its own server: ${line}`);
    else assert.ok(line.endsWith(`${policyServer} t=0.8`), `training samples on the policy server: ${line}`);
  }
  assert.ok(
    generations.some((l) => l.includes('iter-0/suite-gsm')) &&
      generations.some((l) => l.includes('iter-1/eval')),
  );
  assert.ok(generations.some((l) => l.includes('iter-1/train')));
  // Every checkpoint is served on the policy endpoint only, and probed with the run's sampling settings.
  assert.ok(probes.length >= 1);
  assert.ok(sent.filter((s) => s.startsWith('serve')).every((s) => s === `serve ${policyServer}`));
  assert.deepEqual(
    new Set(probes.map((p) => JSON.stringify(p))),
    new Set([JSON.stringify({ temperature: 0.8, topP: 0.95 })]),
  );
});

test('evaluation.endpoint needs by-path serving: the serve step tells only the policy endpoint', () => {
  const base = demoConfig();
  const config = {
    ...base,
    policy: { ...base.policy, serve: { kind: 'restart', command: ['/bin/true', '{checkpoint}'] } },
    evaluation: { ...base.evaluation, endpoint: { baseUrl: 'http://127.0.0.1:9/v1' } },
  };
  assert.throws(
    () => parseRunConfig(config, 'c.yaml'),
    /evaluation\.endpoint: policy\.serve\.kind restart loads checkpoints on the policy endpoint only/,
  );
});
