import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { showRun, unappliedOf } from '../../client/inspect.js';
import { startRun, summaryTable } from '../../client/run.js';
import { StatusKey } from '../../core/search-attributes.js';
import {
  pauseSignal,
  resumeSignal,
  runStatusQuery,
  stopAfterIterationSignal,
  updateConfigUpdate,
} from '../../workflows/control.js';
import { iterationProgressQuery } from '../../workflows/control.js';
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
    const statusAttribute = async () => (await handle.describe()).typedSearchAttributes.get(StatusKey);
    await until('EvolveStatus to say paused', async () => (await statusAttribute()) === 'paused');
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
    assert.equal(await statusAttribute(), 'completed');
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

test('a stop reports the updates it kept from applying; show and the result say so', async () => {
  const calls: string[] = [];
  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const worker = await server.worker('ctl-stop-pending', recordingActivities(calls, gate));
  const config = demoConfig({ runId: 'stop-pending', iterations: 3, artifactRoot: '/a' });
  const { result, status, shown, unapplied } = await worker.runUntil(async () => {
    const handle = await server.env.client.workflow.start('evolveRun', {
      taskQueue: 'ctl-stop-pending',
      workflowId: 'stop-pending',
      args: [config],
    });
    await until('iteration 1 to be training', async () => calls.some((c) => c.startsWith('await')));
    await handle.executeUpdate(updateConfigUpdate, { args: [{ sampling: { chainDepth: 3 } }] });
    await handle.signal(stopAfterIterationSignal);
    release();
    const result = await handle.result();
    return {
      result,
      status: await handle.query(runStatusQuery),
      shown: await showRun(server.env.client, 'stop-pending'),
      unapplied: await unappliedOf(server.env.client, 'stop-pending'),
    };
  });
  assert.equal(result.stoppedAfter, 1);
  assert.deepEqual(result.unapplied?.changes, ['sampling.chainDepth']);
  assert.equal(result.unapplied?.config.sampling.chainDepth, 3, 'the config the update made');
  assert.deepEqual(status.pendingChanges, [], 'nothing is pending once the run has ended');
  assert.deepEqual(status.unappliedChanges, ['sampling.chainDepth']);
  assert.ok(
    shown.some((l) =>
      l.includes('config changes accepted but never applied (the run ended first): sampling.chainDepth'),
    ),
    shown.join('\n'),
  );
  assert.ok(
    shown.some((l) => l.includes('stopped after iteration 1 of 3')),
    shown.join('\n'),
  );
  assert.deepEqual(unapplied, result.unapplied);
  const table = summaryTable(result);
  assert.match(table, /stopped after iteration 1/);
  assert.match(table, /config changes accepted but never applied: sampling\.chainDepth/);
});

test('updateConfig changes the iterations not yet started; the running one keeps its config', async () => {
  const calls: string[] = [];
  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const worker = await server.worker('ctl-update', recordingActivities(calls, gate));
  const config = demoConfig({ runId: 'upd', iterations: 2, artifactRoot: '/a' });
  const { accepted, during, result } = await worker.runUntil(async () => {
    const handle = await server.env.client.workflow.start('evolveRun', {
      taskQueue: 'ctl-update',
      workflowId: 'upd',
      args: [config],
    });
    await until('iteration 1 to be training', async () => calls.some((c) => c.startsWith('await')));
    const accepted = await handle.executeUpdate(updateConfigUpdate, {
      args: [{ sampling: { chainDepth: 3 }, iterations: 3 }],
    });
    const during = await handle.query(runStatusQuery);
    release();
    return { accepted, during, result: await handle.result() };
  });
  assert.deepEqual(accepted, { changed: ['iterations', 'sampling.chainDepth'], appliesFromIteration: 2 });
  assert.deepEqual(during.pendingChanges, ['iterations', 'sampling.chainDepth']);
  assert.equal(during.iterations, 3);
  assert.equal(result.iterations.length, 3, 'the raised iteration count is honoured');
  const depths = (t: number) =>
    new Set(
      calls.filter((c) => c.startsWith(`refine /a/upd/iter-${t}/train`)).map((c) => c.split(' ').at(-1)),
    );
  assert.deepEqual(depths(1), new Set(['2']), 'iteration 1 ran with the config it started with');
  assert.deepEqual(depths(2), new Set(['3']), 'iteration 2 uses the update');
  assert.deepEqual(depths(3), new Set(['3']), 'and so does every later one');
});

test('an invalid config update is rejected with its key path and changes nothing', async () => {
  const calls: string[] = [];
  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const worker = await server.worker('ctl-bad-update', recordingActivities(calls, gate));
  const config = demoConfig({ runId: 'bad-upd', iterations: 2, artifactRoot: '/a' });
  await worker.runUntil(async () => {
    const handle = await server.env.client.workflow.start('evolveRun', {
      taskQueue: 'ctl-bad-update',
      workflowId: 'bad-upd',
      args: [config],
    });
    await until('iteration 1 to be training', async () => calls.some((c) => c.startsWith('await')));
    const rejection = async (patch: unknown, message: RegExp) =>
      assert.rejects(handle.executeUpdate(updateConfigUpdate, { args: [patch] }), (err: unknown) => {
        assert.ok(err instanceof WorkflowUpdateFailedError);
        assert.match(err.cause?.message ?? '', message);
        return true;
      });
    await rejection(
      { sampling: { temperature: 5 } },
      /config update is invalid:\n {2}sampling\.temperature: Too big/,
    );
    await rejection({ sampling: { temprature: 0.5 } }, /sampling\.temprature: unknown key/);
    await rejection({ runId: 'other' }, /runId: fixed for the life of a run/);
    await rejection({ artifactRoot: '/b' }, /artifactRoot: fixed for the life of a run/);
    await rejection({ iterations: -1 }, /iterations: Too small/);
    await rejection('hot', /expected an object of keys to change/);
    const status = await handle.query(runStatusQuery);
    assert.deepEqual(status.pendingChanges, []);
    assert.equal(status.iterations, 2);
    // Rejected updates leave no trace in the history (the validator runs before anything is recorded).
    const history = await handle.fetchHistory();
    assert.ok(!history.events!.some((e) => e.workflowExecutionUpdateAcceptedEventAttributes));
    release();
    await handle.result();
  });
  const depths = new Set(
    calls.filter((c) => c.startsWith('refine /a/bad-upd/iter-2/train')).map((c) => c.split(' ').at(-1)),
  );
  assert.deepEqual(depths, new Set(['2']));
});

test('evolve run refuses the id of a completed run, naming --resume-from', async () => {
  const calls: string[] = [];
  const worker = await server.worker('ctl-again', recordingActivities(calls));
  const config = demoConfig({ runId: 'again', iterations: 1, artifactRoot: '/a' });
  await worker.runUntil(async () => {
    await (await startRun(server.env.client, config, 'ctl-again')).result();
    await assert.rejects(
      startRun(server.env.client, config, 'ctl-again'),
      /run again already completed .*--run-id <new id> --resume-from again/,
    );
  });
  assert.equal(calls.filter((c) => c.startsWith('submit')).length, 1, 'nothing ran a second time');
});
