import assert from 'node:assert/strict';
import { test } from 'node:test';
import { installRuntime, runtimeSettings } from '../../workers/runtime.js';
import { demoConfig } from '../support/config.js';
import { freePort } from '../support/ports.js';
import { recordingActivities } from '../support/recording-activities.js';
import { useTimeSkippingServer } from '../support/time-skipping.js';

// Installed before the server helper's hooks, which then keep this runtime (one per process).
const port = await freePort();
const lines: string[] = [];
installRuntime(runtimeSettings({ EVOLVE_METRICS_PORT: String(port) }), (line) => lines.push(line));
const server = useTimeSkippingServer();

test('the worker runtime logs JSON lines and serves Prometheus metrics', async () => {
  const worker = await server.worker('rt', recordingActivities([]));
  await worker.runUntil(
    server.env.client.workflow.execute('evolveRun', {
      taskQueue: 'rt',
      workflowId: 'rt',
      args: [demoConfig({ runId: 'rt', iterations: 1, artifactRoot: '/a' })],
    }),
  );
  const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.ok(records.length > 0);
  for (const r of records) {
    assert.equal(typeof r.message, 'string');
    assert.match(String(r.time), /^\d{4}-\d\d-\d\dT/);
    assert.match(String(r.level), /^(TRACE|DEBUG|INFO|WARN|ERROR)$/);
  }
  assert.ok(
    records.some((r) => r.taskQueue === 'rt'),
    'log lines carry the SDK metadata as fields',
  );
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(metrics, /^temporal_workflow_completed\{.*task_queue="rt".*\} [1-9]/m);
  assert.match(metrics, /^temporal_activity_execution_latency/m);
});

test('bad runtime settings are named', () => {
  assert.throws(
    () => runtimeSettings({ EVOLVE_METRICS_PORT: 'x' }),
    /EVOLVE_METRICS_PORT=x: expected a port/,
  );
  assert.throws(() => runtimeSettings({ EVOLVE_LOG_FORMAT: 'xml' }), /EVOLVE_LOG_FORMAT=xml/);
  assert.deepEqual(runtimeSettings({}), { format: 'json', level: 'INFO' });
});
