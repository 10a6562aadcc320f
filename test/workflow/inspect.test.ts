import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Context } from '@temporalio/activity';
import type { Activities } from '../../activities/index.js';
import { showRun } from '../../client/inspect.js';
import { demoConfig } from '../support/config.js';
import { recordingActivities } from '../support/recording-activities.js';
import { useTimeSkippingServer } from '../support/time-skipping.js';

const server = useTimeSkippingServer();

test('evolve show draws progress bars and names the error a retrying step keeps hitting', async () => {
  const calls: string[] = [];
  let release = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  const base = recordingActivities(calls);
  // Shard 0's first attempt fails; its retry hangs until released, so the failure is "last error".
  const activities = {
    ...base,
    sampleShard: async (input: { shard: { index: number } }) => {
      if (input.shard.index === 0) {
        if (Context.current().info.attempt === 1) throw new Error('injected: model server down');
        await gate;
      }
      return (base.sampleShard as (i: unknown) => Promise<unknown>)(input);
    },
  } as unknown as Activities;
  const worker = await server.worker('show', activities);
  const config = demoConfig({ runId: 'show', iterations: 2, artifactRoot: '/a', shardSize: 7 });
  const { during, after } = await worker.runUntil(async () => {
    const handle = await server.env.client.workflow.start('evolveRun', {
      taskQueue: 'show',
      workflowId: 'show',
      args: [config],
    });
    let during: string[] = [];
    const settled = () =>
      during.some((l) => l.includes('last error')) &&
      during.some((l) => l.startsWith('  shards') && l.endsWith(' 1/2'));
    for (let i = 0; i < 200 && !settled(); i++) {
      await new Promise((r) => setTimeout(r, 100));
      during = await showRun(server.env.client, 'show');
    }
    release();
    await handle.result();
    return { during, after: await showRun(server.env.client, 'show') };
  });
  const text = during.join('\n');
  assert.match(text, /^show: RUNNING/);
  assert.match(text, /iterations \[\.{20}\] 0\/2/, 'none of 2 finished while iteration 1 runs');
  assert.match(text, /iteration 1: step sample-refine-judge/);
  assert.match(text, /shards {5}\[#{10}\.{10}\] 1\/2/, 'one of two shards done');
  assert.match(text, /last error: sampleShard attempt 2: injected: model server down/);
  const done = after.join('\n');
  assert.match(done, /^show: COMPLETED \(completed\)/);
  assert.match(done, /iterations \[#{20}\] 2\/2/);
  assert.doesNotMatch(done, /last error/);
});
