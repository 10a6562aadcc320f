import { join } from 'node:path';
import type { z } from 'zod';
import { type Manifest, type RecordSchemaName } from '../core/records.js';
import { Journal } from '../storage/journal.js';
import { writingJsonl } from '../storage/jsonl-writer.js';
import type { ProducedBy } from '../storage/manifests.js';
import { ShardLease } from './lease.js';
import { activityLine } from './outage.js';

export interface JournalledStep<T, S = T> {
  out: string;
  /** The step's output key (see reuse.ts): a journal only ever holds rows made for that key. */
  key: string;
  schema: RecordSchemaName;
  rowSchema: z.ZodType<T>;
  keyOf: (row: T) => string;
  /** What the journal keeps of a row in memory (the row itself when omitted): enough to order and count. */
  summarise?: (row: T) => S;
  order: (a: S, b: S) => number;
  stats: (rows: S[]) => Record<string, number>;
  producedBy: ProducedBy;
  /** The finished output, if an attempt this one waited for made it meanwhile (see reuse.ts). */
  finished?: () => Promise<Manifest | null>;
  /** Indexes the output while the lease is still held. */
  publish?: (made: Manifest) => Promise<void>;
}

/** Where a shard step writes its rows, and the producer its manifest names. */
export const shardOutput = (
  input: { scope: { dir: string; runId: string; iteration: number }; shard: { index: number } },
  step: string,
): Pick<JournalledStep<unknown>, 'out' | 'producedBy'> => ({
  out: join(input.scope.dir, `shard-${input.shard.index}.jsonl`),
  producedBy: { step, runId: input.scope.runId, iteration: input.scope.iteration, shard: input.shard.index },
});

/**
 * The shape of every resumable step: `work` fills a journal (skipping journalled rows, so a retried
 * attempt resumes where the last one stopped), then the rows are published in a stable order with a
 * manifest. Finding a finished output is the caller's part (reusableOutput).
 */
export async function journalledStep<T, S = T>(
  step: JournalledStep<T, S>,
  work: (journal: Journal<T, S>, lease: ShardLease) => Promise<unknown>,
): Promise<Manifest> {
  const started = Date.now();
  const path = `${step.out}.${step.key.slice(0, 16)}.journal`;
  // Only the lease holder reads and writes the journal: no request is sent twice by two live attempts.
  const lease = await ShardLease.acquire(path);
  let done = false;
  try {
    const already = await step.finished?.();
    if (already) return already;
    const journal = await Journal.open(path, step.rowSchema, step.keyOf, step.summarise);
    if (journal.size > 0)
      activityLine('info', `${step.out}: resuming from its journal, ${journal.size} rows done`);
    try {
      // mapLimit lets requests in flight land in the journal before it throws, superseded or not.
      await work(journal, lease);
      lease.check();
      // The rows go from the journal's file to the output's without being held or parsed again.
      const manifest = await writingJsonl({ out: step.out }, async ({ out }) => {
        await journal.copyTo(out, step.order);
        return out.finish(step.schema, step.producedBy, {
          stats: step.stats(journal.summaries()),
          wallMs: Date.now() - started,
        });
      });
      await step.publish?.(manifest);
      await journal.discard();
      done = true;
      return manifest;
    } finally {
      await journal.close().catch(() => undefined);
    }
  } finally {
    await lease.release(done);
  }
}
