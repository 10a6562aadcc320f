import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { canonicalJson } from '../core/canonical-json.js';
import { ManifestSchema, type Manifest } from '../core/records.js';
import type { StepScope } from '../core/steps.js';
import { exists, writeAtomic } from './files.js';

/**
 * Content-addressed step outputs. A step's key hashes what determines its output: the step, the sha256
 * of its input data, the config slice it reads and its code version. Each run keeps an index,
 * <artifactRoot>/<runId>/cas/<key>.json, of the outputs it made or reused. A step looks its key up there
 * and in the indexes of the runs named in `reuseFrom` before doing any work, so a reset, a retry or a
 * new run with the same inputs gets the finished output back instead of recomputing it.
 */

/** Bump a step's number when a change to its code changes its output for the same inputs. */
const CODE_VERSION = {
  sample: 1,
  refine: 1,
  judge: 1,
  pair: 1,
  train: 1,
  'suite-judge': 1,
  'sft-set': 2,
} as const;
export type ReusableStep = keyof typeof CODE_VERSION;

export function stepKey(step: ReusableStep, inputs: readonly string[], slice: unknown): string {
  const identity = canonicalJson({ step, version: CODE_VERSION[step], inputs, slice });
  return createHash('sha256').update(identity).digest('hex');
}

/**
 * A config slice without the fields that cannot change an output (a server address, an interpreter
 * path). Omitting beats listing: a field added later to the config is part of the key by default.
 */
export function without<T extends object, K extends keyof T>(value: T, ...keys: K[]): Omit<T, K> {
  return Object.fromEntries(Object.entries(value).filter(([k]) => !keys.includes(k as K))) as Omit<T, K>;
}

export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const entryPath = (index: string, key: string) => join(index, `${key}.json`);

async function readEntry<T>(path: string, schema: z.ZodType<T>): Promise<T | null> {
  if (!(await exists(path))) return null;
  try {
    const parsed = schema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null; // a torn entry is a miss: the step recomputes and rewrites it
  }
}

/** The first entry for `key` whose artifact is still intact; a deleted or altered artifact is a miss. */
export async function lookup<T>(
  indexes: readonly string[],
  key: string,
  schema: z.ZodType<T>,
  intact: (entry: T) => Promise<boolean>,
): Promise<T | null> {
  for (const index of indexes) {
    const entry = await readEntry(entryPath(index, key), schema);
    if (entry !== null && (await intact(entry))) return entry;
  }
  return null;
}

/** Records `entry` in this run's index (the first), also when it was found in another run's. */
export async function record(indexes: readonly string[], key: string, entry: unknown): Promise<void> {
  const own = indexes[0];
  if (own !== undefined) await writeAtomic(entryPath(own, key), JSON.stringify(entry, null, 2) + '\n');
}

const manifestIntact = async (m: Manifest) => (await exists(m.uri)) && (await fileSha256(m.uri)) === m.sha256;

const finishedOutput = (scope: StepScope, key: string): Promise<Manifest | null> =>
  lookup(scope.indexes, key, ManifestSchema, manifestIntact);

/**
 * For a journalled step (see journalledStep): find an output a superseded attempt finished meanwhile,
 * and index the output before the lease is released, so the next holder finds it.
 */
export const indexHooks = (scope: StepScope, key: string) => ({
  finished: () => finishedOutput(scope, key),
  publish: (made: Manifest) => record(scope.indexes, key, made),
});

/** The indexed output for `key`, marked reused; otherwise `compute` makes it and it is indexed. */
export async function reusableOutput(
  scope: StepScope,
  key: string,
  compute: () => Promise<Manifest>,
): Promise<Manifest> {
  const found = await finishedOutput(scope, key);
  if (found) {
    await record(scope.indexes, key, found);
    return { ...found, reused: true };
  }
  const made = await compute();
  await record(scope.indexes, key, made);
  return made;
}
