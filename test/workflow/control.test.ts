import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  pauseSignal,
  resumeSignal,
  runStatusQuery,
  stopAfterIterationSignal,
} from '../../workflows/control.js';
import { iterationProgressQuery } from '../../workflows/iteration.js';
import { demoConfig } from '../support/config.js';
import { useTimeSkippingServer } from '../support/time-skipping.js';
import { recordingActivities } from '../support/recording-activities.js';

const server = useTimeSkippingServer();

const until = async (what: string, check: () => Promise<boolean>) => {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
};

test('pause holds the run between steps; resume lets it finish', async () => {
  const calls: string[] = [];
  const worker = await server.worker('ctl', recordingActivities(calls));
  await worker.runUntil(async () => {
    const config = demoConfig({ runId: 'ctl', iterations: 2, artifactRoot: '/a', shardSize: 7 });
    // Paused from the start: no iteration may begin.
    const handle = await server.env.client.workflow.signalWithStart('evolveRun', {
      taskQueue: 'ctl',
      workflowId: 'ctl',
      args: [config],
      signal: pauseSignal,
    });
    await until('the run to report itself paused', async () => (await handle.query(runStatusQuery)).paused);
    assert.equal(calls.length, 0, 'nothing ran while paused');
    assert.equal((await handle.query(runStatusQuery)).iteration, 0);

    await handle.signal(resumeSignal);
    await until('iteration 1 to start', async () => calls.length > 0);
    // Pause again during iteration 1: the run forwards it to the iteration, which holds before its next step.
    await handle.signal(pauseSignal);
    const child = server.env.client.workflow.getHandle('ctl/iter-1');
    await until('iteration 1 to hold', async () => (await child.query(iterationProgressQuery)).paused);
    const heldAt = calls.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(calls.length, heldAt, 'no new activity starts while paused');
    assert.ok(!calls.some((c) => c.startsWith('submit')), 'training did not start');

    await handle.signal(resumeSignal);
    const result = await handle.result();
    assert.equal(result.iterations.length, 2);
    assert.ok(calls.some((c) => c.startsWith('submit')));
  });
});

test('stopAfterIteration ends the run after the running iteration, keeping its results', async () => {
  const calls: string[] = [];
  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const worker = await server.worker('ctl-stop', recordingActivities(calls, gate));
  const config = demoConfig({ runId: 'stop', iterations: 3, artifactRoot: '/a' });
  const result = await worker.runUntil(async () => {
    const handle = await server.env.client.workflow.start('evolveRun', {
      taskQueue: 'ctl-stop',
      workflowId: 'stop',
      args: [config],
    });
    await until('iteration 1 to be training', async () => calls.some((c) => c.startsWith('await')));
    await handle.signal(stopAfterIterationSignal);
    assert.equal((await handle.query(runStatusQuery)).stopRequested, true);
    release();
    return handle.result();
  });
  assert.equal(result.iterations.length, 1, 'iteration 1 finished, 2 and 3 never started');
  assert.equal(result.finalModel, result.iterations[0]!.checkpoint);
  assert.equal(calls.filter((c) => c.startsWith('submit')).length, 1);
});
