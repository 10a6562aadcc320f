import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { bundleWorkflowsApart } from '../../workers/bundle.js';
import { withTracing, workerTracing } from '../../workers/tracing.js';
import { keyedConfig, openPrompts } from '../support/config.js';
import { holdsKey } from '../support/echo-server.js';
import { startFakeOpenAI, type FakeServer } from '../support/fake-openai.js';
import { startOtlpReceiver } from '../support/otlp-receiver.js';
import { realActivitiesButTraining } from '../support/recording-activities.js';
import { useTimeSkippingServer } from '../support/time-skipping.js';

const server = useTimeSkippingServer();
let fake: FakeServer;
let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
before(async () => {
  fake = await startFakeOpenAI();
  receiver = await startOtlpReceiver();
});
after(async () => {
  await fake?.close();
  await receiver?.close();
});

test('without an OTLP endpoint there is no tracing', () => {
  assert.equal(workerTracing({}), undefined);
});

test('with OTEL_EXPORTER_OTLP_ENDPOINT, each workflow and activity of a run has a span in one trace, with no key or prompt in it', async () => {
  const key = `sk-trace-${randomBytes(12).toString('hex')}`;
  const variables = {
    EVOLVE_TEST_POLICY_API_KEY: key,
    EVOLVE_TEST_JUDGE_API_KEY: key,
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
  };
  Object.assign(process.env, variables);
  try {
    const tracing = workerTracing();
    assert.ok(tracing);
    // The worker's own bundle, as it makes it with tracing on: the workflow interceptors are in it.
    const worker = await server.worker(
      'traced',
      realActivitiesButTraining(),
      withTracing({ workflowBundle: await bundleWorkflowsApart({ traced: true }) }, tracing),
    );
    const histories = await worker.runUntil(async () => {
      const handle = await server.env.client.workflow.start('evolveRun', {
        taskQueue: 'traced',
        workflowId: 'traced',
        args: [keyedConfig('traced', mkdtempSync(join(tmpdir(), 'evolve-traces-')), fake.baseUrl)],
      });
      await handle.result();
      return Promise.all(
        ['traced', 'traced/iter-1'].map((id) => server.env.client.workflow.getHandle(id).fetchHistory()),
      );
    });
    await tracing.shutdown();

    // What the run did, from its histories: each workflow, and each activity type it scheduled.
    const events = histories.flatMap((h) => h.events ?? []);
    const workflows = [
      'evolveRun',
      ...events.flatMap(
        (e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name ?? [],
      ),
    ];
    const activities = [
      ...new Set(events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? [])),
    ];
    for (const step of ['sampleShard', 'refineChain', 'judgeShard', 'buildPairs', 'submitTraining'])
      assert.ok(activities.includes(step), `the run scheduled ${step}`);
    assert.ok(workflows.includes('evolveIteration'));

    const spans = receiver.spans();
    const named = (name: string) => spans.filter((s) => s.name === name);
    const [run] = named('RunWorkflow:evolveRun');
    assert.ok(run, 'the run has a span');
    for (const name of [
      ...workflows.map((w) => `RunWorkflow:${w}`),
      ...activities.map((a) => `RunActivity:${a}`),
    ]) {
      assert.ok(named(name).length > 0, `a span ${name}`);
      for (const span of named(name))
        assert.equal(span.traceId, run.traceId, `${name} is in the run's trace`);
    }
    assert.ok(
      [...fake.requests.authorizations].includes(`Bearer ${key}`),
      'the key was used, so it could leak',
    );
    for (const body of receiver.bodies) {
      assert.ok(!holdsKey(body, key), 'an API key is in a span');
      for (const prompt of openPrompts) assert.ok(!body.includes(prompt), `a prompt is in a span: ${prompt}`);
    }
  } finally {
    for (const name of Object.keys(variables)) delete process.env[name];
  }
});
