/**
 * The progress line `evolve run` prints: the rows of the running shards, summed per activity type from
 * their heartbeats, in a fixed order, so that the line changes only when the rows do.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { loadDataConverter } from '@temporalio/common/lib/internal-non-workflow/index.js';
import { inFlightRows } from '../../client/inspect.js';

const client = { options: { loadedDataConverter: loadDataConverter() } } as unknown as Client;
const pending = (name: string, details: unknown) => ({
  activityType: { name },
  heartbeatDetails: { payloads: [defaultPayloadConverter.toPayload(details)] },
});
const described = (activities: ReturnType<typeof pending>[]) =>
  ({ raw: { pendingActivities: activities } }) as unknown as WorkflowExecutionDescription;

test('the rows of running shards, summed per activity type, in the same order whatever the server lists', async () => {
  const activities = [
    pending('sampleShard', { done: 2, total: 5 }),
    pending('refineChain', { done: 0, total: 1 }),
    pending('sampleShard', { done: 3, total: 5, resumedFrom: 1 }),
    pending('trainPolicy', { step: 'loading' }), // no rows: left out
  ];
  const line = await inFlightRows(client, described(activities));
  assert.equal(line, 'refineChain 0/1 rows, sampleShard 5/10 rows');
  assert.equal(await inFlightRows(client, described([...activities].reverse())), line);
  assert.equal(await inFlightRows(client, described([pending('trainPolicy', {})])), null);
});
