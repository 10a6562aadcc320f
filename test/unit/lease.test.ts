import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { journalledStep } from '../../activities/journalled-step.js';
import { STALE_MS, ShardLease } from '../../activities/lease.js';
import { until } from '../support/until.js';

const Row = z.object({ id: z.string() });
type Row = z.infer<typeof Row>;

function step(dir: string) {
  return {
    out: join(dir, 'shard-0.jsonl'),
    key: 'k'.repeat(64),
    schema: 'prompt' as const,
    rowSchema: Row,
    keyOf: (r: Row) => r.id,
    order: (a: Row, b: Row) => a.id.localeCompare(b.id),
    stats: () => ({}),
    producedBy: { step: 'test', runId: 'r', iteration: 1 },
  };
}

test('a newer holder waits for the superseded one to land its request in flight, which then sends nothing more', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'evolve-lease-'));
  const sent: string[] = [];
  let releaseFirst = () => {};
  const inFlight = new Promise<void>((resolve) => (releaseFirst = resolve));
  let firstStarted = () => {};
  const started = new Promise<void>((resolve) => (firstStarted = resolve));
  let firstLease: ShardLease | undefined;
  const first = journalledStep(step(dir), async (journal, lease) => {
    firstLease = lease;
    for (const id of ['a', 'b', 'c']) {
      lease.check();
      sent.push(`first:${id}`);
      if (id === 'a') {
        firstStarted();
        await inFlight; // the request in flight when the second attempt takes over
      }
      await journal.append({ id });
    }
  });
  await started;
  let secondRead: string[] = [];
  const second = journalledStep(step(dir), async (journal, lease) => {
    secondRead = journal.summaries().map((r) => r.id);
    for (const id of ['a', 'b', 'c']) {
      if (journal.has(id)) continue;
      lease.check();
      sent.push(`second:${id}`);
      await journal.append({ id });
    }
  });
  // The second attempt is waiting on the first one's owner file; the first notices within a poll.
  await until('the first attempt to see it lost the lease', () => firstLease?.lost);
  assert.deepEqual(sent, ['first:a'], 'nothing is sent while the takeover waits');
  releaseFirst();
  await assert.rejects(first, /superseded by a newer attempt/);
  const manifest = await second;
  assert.deepEqual(
    secondRead,
    ['a'],
    'the reply in flight landed in the journal before the takeover read it',
  );
  assert.deepEqual(sent, ['first:a', 'second:b', 'second:c'], 'each row requested once');
  assert.equal(manifest.rows, 3);
  assert.deepEqual(
    readdirSync(dir).filter((f) => !f.startsWith('shard-0.jsonl')),
    [],
    'no lease, owner or journal file is left',
  );
  assert.ok(existsSync(join(dir, 'shard-0.jsonl.manifest.json')));
});

test('the owner file of a dead process does not hold a new attempt up', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'evolve-lease-'));
  const journal = join(dir, 'x.journal');
  const dead = `${journal}.lease.owner-elsewhere-1-0`;
  writeFileSync(dead, '');
  const old = new Date(Date.now() - STALE_MS - 1000);
  utimesSync(dead, old, old);
  const lease = await ShardLease.acquire(journal);
  assert.equal(lease.lost, false);
  assert.equal(existsSync(dead), false, 'the stale owner file was removed');
  await lease.release(true);
});
