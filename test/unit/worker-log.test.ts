import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Context } from '@temporalio/activity';
import type { LogEntry } from '@temporalio/worker';
import { activityLog } from '../../workers/activity-log.js';
import { dedupeWarnings } from '../../workers/runtime.js';

function run(attempt: number, outcome: () => Promise<unknown>) {
  const lines: string[] = [];
  const ctx = {
    info: { activityType: 'refineChain', attempt },
    log: { info: (message: string) => lines.push(message) },
  } as unknown as Context;
  const execute = activityLog(ctx).inbound!.execute!;
  return { lines, done: execute({ args: [], headers: {} }, outcome) };
}

test('the worker log gets one INFO line per activity start, retry, finish and failure', async () => {
  const ok = run(1, async () => 'manifest');
  assert.equal(await ok.done, 'manifest');
  assert.equal(ok.lines[0], 'refineChain started');
  assert.match(ok.lines[1]!, /^refineChain finished in \d+\.\ds$/);

  const failed = run(3, () => Promise.reject(new Error('endpoint down')));
  await assert.rejects(failed.done, /endpoint down/);
  assert.deepEqual(failed.lines, [
    'refineChain retry, attempt 3',
    'refineChain attempt 3 failed: endpoint down',
  ]);
});

test('a warning repeated within a minute (every poller losing Temporal) is written once, then counted', () => {
  const written: string[] = [];
  let clock = 0;
  const log = dedupeWarnings(
    (e) => written.push(`${e.level} ${e.message}`),
    () => clock,
  );
  const entry = (level: LogEntry['level'], message: string): LogEntry => ({
    level,
    message,
    timestampNanos: 0n,
  });
  for (let i = 0; i < 115; i++) log(entry('WARN', 'poll failed: connection refused'));
  log(entry('INFO', 'refineChain started'));
  log(entry('INFO', 'refineChain started'));
  clock = 61_000;
  log(entry('WARN', 'poll failed: connection refused'));
  assert.deepEqual(written, [
    'WARN poll failed: connection refused',
    'INFO refineChain started',
    'INFO refineChain started',
    'WARN poll failed: connection refused (and 114 more like it)',
  ]);
});
