import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { doctor } from '../../client/doctor.js';
import { listRuns, showRun } from '../../client/inspect.js';
import { connectClient } from '../../client/run.js';
import { workflowsPath } from '../../workers/worker.js';
import { demoConfig } from '../support/config.js';
import { startFakeOpenAI, type FakeServer } from '../support/fake-openai.js';
import { startDevServer } from '../support/dev-server.js';
import { pythonBin } from '../support/paths.js';
import { recordingActivities } from '../support/recording-activities.js';

// A real dev server (visibility, search attributes, task queue pollers): what `evolve list` and
// `evolve doctor` read. The model server is the OpenAI-compatible double, refusing wrong keys.
let env: TestWorkflowEnvironment;
let fake: FakeServer;
const key = 'sk-doctor-test';

before(async () => {
  env = await startDevServer();
  fake = await startFakeOpenAI({ apiKey: key });
});
after(async () => {
  await fake?.close();
  await env?.teardown();
});

test('evolve list finds runs through visibility; evolve doctor names what is wrong', async () => {
  const port = env.address.split(':').at(-1)!;
  const settings = { EVOLVE_TEMPORAL_PORT: port, EVOLVE_TASK_QUEUE: 'ops' };
  const base = demoConfig({ runId: 'ops', iterations: 1, artifactRoot: '/a' });
  const endpoint = { ...base.policy.endpoint, baseUrl: fake.baseUrl, apiKeyEnv: 'EVOLVE_DOCTOR_API_KEY' };
  const config = {
    ...base,
    policy: { ...base.policy, endpoint },
    judge: { ...base.judge, llm: { ...base.judge.llm, endpoint } },
    trainer: { ...base.trainer, python: pythonBin, device: 'cpu' as const },
  };
  const path = join(mkdtempSync(join(tmpdir(), 'evolve-doctor-')), 'config.json');
  writeFileSync(path, JSON.stringify(config));
  const check = async (extra: NodeJS.ProcessEnv) => {
    const lines: string[] = [];
    const code = await doctor(path, { ...settings, ...extra }, (l) => lines.push(l));
    return { code, text: lines.join('\n') };
  };

  // No worker, no key: both named, exit 1.
  const broken = await check({});
  assert.equal(broken.code, 1);
  assert.match(broken.text, /^ok {4}search attributes .*EvolveStatus/m);
  assert.match(broken.text, /^FAIL {2}workflow worker +no worker polls task queue "ops"/m);
  assert.match(broken.text, /^FAIL {2}policy server +.*EVOLVE_DOCTOR_API_KEY is not set/m);
  assert.match(
    (await check({ EVOLVE_DOCTOR_API_KEY: 'wrong' })).text,
    /HTTP 401, the key in EVOLVE_DOCTOR_API_KEY was refused/,
  );

  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: 'ops',
    workflowsPath,
    activities: recordingActivities([], gate),
  });
  await worker.runUntil(async () => {
    const handle = await env.client.workflow.start('evolveRun', {
      taskQueue: 'ops',
      workflowId: 'ops',
      args: [base],
    });
    let rows = await listRuns(env.client);
    for (let i = 0; i < 100 && rows[0]?.evolveStatus !== 'running'; i++) {
      await new Promise((r) => setTimeout(r, 200));
      rows = await listRuns(env.client);
    }
    assert.deepEqual(
      rows.map((r) => [r.workflowId, r.temporalStatus, r.evolveStatus, r.iteration]),
      [['ops', 'RUNNING', 'running', '1']],
      'iterations are not listed as runs',
    );
    assert.deepEqual(await listRuns(env.client, 'EvolveStatus = "paused"'), []);

    const healthy = await check({ EVOLVE_DOCTOR_API_KEY: key });
    assert.equal(healthy.code, 0, healthy.text);
    assert.match(healthy.text, /^ok {4}trainer +local: trl \S+ on cpu/m);
    release();
    await handle.result();
  });
});

test('evolve show says no worker polls the task queue; a down Temporal is named with what to run', async () => {
  const handle = await env.client.workflow.start('evolveRun', {
    taskQueue: 'nobody',
    workflowId: 'unworked',
    args: [demoConfig({ runId: 'unworked', iterations: 1, artifactRoot: '/a' })],
  });
  try {
    const lines = await showRun(env.client, 'unworked');
    assert.match(lines.join('\n'), /no worker is polling task queue "nobody".*npm run worker/);
  } finally {
    await handle.terminate();
  }
  await assert.rejects(
    connectClient({ address: '127.0.0.1:1', namespace: 'default' }),
    /Temporal is not reachable at 127\.0\.0\.1:1 .*npm run evolve -- up/,
  );
});
