import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Transform } from 'node:stream';
import type { z } from 'zod';
import { formatIssues } from '../core/config.js';
import { ManifestSchema, RecordSchemas, type Manifest, type RecordSchemaName } from '../core/records.js';
import { secretScrubber } from './redact.js';
import { ShardLease } from './lease.js';
import { activityLine } from './outage.js';

/** Bad data in a file: the message names the file and line, so it can be fixed by hand. */
export class DataError extends Error {
  override name = 'DataError';
}

export type ProducedBy = Manifest['producedBy'];

/** Longest JSONL row read (8 MiB): a bigger one would take the worker's heap with it. */
export const MAX_ROW_BYTES = 8 * 2 ** 20;

/**
 * Passes a file through while no line is longer than MAX_ROW_BYTES, and fails the stream as soon as one
 * is: counted on the bytes as they arrive, before readline would hold the whole row in memory.
 */
function rowLimit(path: string): Transform {
  let inRow = 0;
  let lineNo = 1;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      for (let start = 0; start < chunk.length;) {
        const newline = chunk.indexOf(10, start);
        const end = newline === -1 ? chunk.length : newline;
        inRow += end - start;
        if (inRow > MAX_ROW_BYTES)
          return done(
            new DataError(
              `${path}:${lineNo}: a row longer than ${MAX_ROW_BYTES} bytes; rows are limited to that`,
            ),
          );
        if (newline === -1) break;
        inRow = 0;
        lineNo++;
        start = newline + 1;
      }
      done(null, chunk);
    },
  });
}

/** Streams a JSONL file, validating each row; errors name file and line. */
export async function* readJsonl<T>(path: string, schema: z.ZodType<T>): AsyncGenerator<T> {
  const source = createReadStream(path);
  const input = source.pipe(rowLimit(path));
  source.once('error', (err) => input.destroy(err)); // a missing file or a directory fails the loop below
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (line.trim() === '') continue;
    yield parseRow(line, schema, `${path}:${lineNo}`);
  }
}

/** One JSONL row, validated; errors name `where` (file:line). */
export function parseRow<T>(line: string, schema: z.ZodType<T>, where: string): T {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (err) {
    throw new DataError(`${where}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new DataError(formatIssues(parsed.error, json, where));
  return parsed.data;
}

export async function readAll<T>(path: string, schema: z.ZodType<T>): Promise<T[]> {
  const rows: T[] = [];
  for await (const row of readJsonl(path, schema)) rows.push(row);
  return rows;
}

export function readManifestRows<N extends RecordSchemaName>(
  manifest: Manifest,
  name: N,
): Promise<z.infer<(typeof RecordSchemas)[N]>[]> {
  if (manifest.schema !== name)
    throw new DataError(`${manifest.uri}: holds "${manifest.schema}" rows, expected "${name}"`);
  return readAll(
    manifest.uri,
    RecordSchemas[name] as unknown as z.ZodType<z.infer<(typeof RecordSchemas)[N]>>,
  );
}

/** Byte offset of each row start (and of the end) of recently sliced files, by content hash. */
const rowOffsets = new Map<string, Promise<number[]>>();
const ROW_OFFSET_CACHE = 8;

async function offsetsOf(manifest: Manifest): Promise<number[]> {
  const offsets = [0];
  let position = 0;
  for await (const chunk of createReadStream(manifest.uri) as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) offsets.push(position + i + 1);
    position += chunk.length;
  }
  if (offsets.length - 1 !== manifest.rows)
    throw new DataError(
      `${manifest.uri}: has ${offsets.length - 1} lines, its manifest says ${manifest.rows}`,
    );
  return offsets;
}

/**
 * Rows [start, end) of a manifest's file. Each shard reads only its own bytes: the file is scanned
 * once per worker for row offsets (8 bytes a row), instead of once per shard.
 */
export async function readManifestSlice<N extends RecordSchemaName>(
  manifest: Manifest,
  name: N,
  start: number,
  end: number,
): Promise<z.infer<(typeof RecordSchemas)[N]>[]> {
  if (manifest.schema !== name)
    throw new DataError(`${manifest.uri}: holds "${manifest.schema}" rows, expected "${name}"`);
  let pending = rowOffsets.get(manifest.sha256);
  if (!pending) {
    pending = offsetsOf(manifest);
    rowOffsets.set(manifest.sha256, pending);
    pending.catch(() => rowOffsets.delete(manifest.sha256));
    if (rowOffsets.size > ROW_OFFSET_CACHE) rowOffsets.delete(rowOffsets.keys().next().value!);
  }
  const offsets = await pending;
  const from = offsets[Math.min(start, manifest.rows)]!;
  const to = offsets[Math.min(end, manifest.rows)]!;
  const file = await open(manifest.uri, 'r');
  try {
    const bytes = Buffer.alloc(to - from);
    await file.read(bytes, 0, bytes.length, from);
    const schema = RecordSchemas[name] as unknown as z.ZodType<z.infer<(typeof RecordSchemas)[N]>>;
    return bytes
      .toString('utf8')
      .split('\n')
      .slice(0, -1)
      .map((line, i) => parseRow(line, schema, `${manifest.uri}:${start + i + 1}`));
  } finally {
    await file.close();
  }
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export function manifestPath(dataPath: string): string {
  return `${dataPath}.manifest.json`;
}

export async function readManifest(dataPath: string): Promise<Manifest | null> {
  const path = manifestPath(dataPath);
  if (!(await exists(path))) return null;
  return ManifestSchema.parse(JSON.parse(await readFile(path, 'utf8')));
}

/** Writes `content` to `path` through a temp file and a rename, so readers never see half a file. */
export async function writeAtomic(path: string, content: string | Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, typeof content === 'string' ? secretScrubber()(content) : content);
  await rename(tmp, path);
}

type ManifestExtra = Partial<Pick<Manifest, 'stats' | 'wallMs'>>;
let writersOpened = 0;

/**
 * A JSONL file written row by row (so a step need not hold its output in memory), hashed on the way.
 * Rows go to a temp file; `finish` renames it into place and then writes the manifest, so the
 * manifest's presence still means the data is complete. `abort` leaves nothing behind.
 */
export class JsonlWriter {
  private readonly hash = createHash('sha256');
  private pending: string[] = [];
  private pendingChars = 0;
  private rows = 0;
  private bytes = 0;
  private readonly scrub = secretScrubber();

  private constructor(
    readonly uri: string,
    private readonly tmp: string,
    private readonly handle: Awaited<ReturnType<typeof open>>,
  ) {}

  static async create(dataPath: string): Promise<JsonlWriter> {
    const uri = resolve(dataPath);
    await mkdir(dirname(uri), { recursive: true });
    // Unique per writer: a timed-out attempt still writing in this process must not share the file.
    const tmp = `${uri}.tmp-${process.pid}-${writersOpened++}`;
    return new JsonlWriter(uri, tmp, await open(tmp, 'w'));
  }

  async write(row: unknown): Promise<void> {
    const line = this.scrub(JSON.stringify(row)) + '\n';
    this.pending.push(line);
    this.pendingChars += line.length;
    this.rows++;
    if (this.pendingChars >= 1 << 20) await this.flush();
  }

  private async flush(): Promise<void> {
    const chunk = Buffer.from(this.pending.join(''));
    this.pending = [];
    this.pendingChars = 0;
    this.hash.update(chunk);
    this.bytes += chunk.length;
    await this.handle.write(chunk);
  }

  async finish(
    schema: RecordSchemaName,
    producedBy: ProducedBy,
    extra: ManifestExtra = {},
  ): Promise<Manifest> {
    await this.flush();
    await this.handle.close();
    await rename(this.tmp, this.uri);
    const manifest: Manifest = {
      uri: this.uri,
      sha256: this.hash.digest('hex'),
      rows: this.rows,
      bytes: this.bytes,
      schema,
      producedBy,
      stats: extra.stats ?? {},
      wallMs: extra.wallMs ?? 0,
    };
    await writeAtomic(manifestPath(this.uri), JSON.stringify(manifest, null, 2) + '\n');
    return manifest;
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

/** Runs `write` with a fresh writer per path; if it fails, none of their files is left behind. */
export async function writingJsonl<K extends string, T>(
  paths: Record<K, string>,
  write: (writers: Record<K, JsonlWriter>) => Promise<T>,
): Promise<T> {
  const writers = {} as Record<K, JsonlWriter>;
  try {
    for (const [name, path] of Object.entries(paths) as [K, string][])
      writers[name] = await JsonlWriter.create(path);
    return await write(writers);
  } catch (err) {
    await Promise.all(Object.values<JsonlWriter>(writers).map((w) => w.abort()));
    throw err;
  }
}

/** Writes rows and then their manifest, both atomically (see JsonlWriter). */
export function writeJsonlWithManifest(
  dataPath: string,
  schema: RecordSchemaName,
  rows: readonly unknown[],
  producedBy: ProducedBy,
  extra: ManifestExtra = {},
): Promise<Manifest> {
  return writingJsonl({ out: dataPath }, async ({ out }) => {
    for (const row of rows) await out.write(row);
    return out.finish(schema, producedBy, extra);
  });
}

/**
 * An append-only journal of finished rows for one step. After a crash the next attempt reopens it,
 * keeps every complete line (a torn last line is discarded) and skips the work those rows represent.
 */
export class Journal<T> {
  private constructor(
    readonly path: string,
    readonly rows: Map<string, T>,
    private readonly handle: Awaited<ReturnType<typeof open>>,
    private readonly keyOf: (row: T) => string,
  ) {}

  static async open<T>(path: string, schema: z.ZodType<T>, keyOf: (row: T) => string): Promise<Journal<T>> {
    await mkdir(dirname(path), { recursive: true });
    const rows = new Map<string, T>();
    let validBytes = 0;
    if (await exists(path)) {
      const text = await readFile(path, 'utf8');
      for (const line of text.split('\n')) {
        const row = line.trim() === '' ? undefined : schema.safeParse(safeJson(line));
        if (!row?.success) break; // torn tail from a crash: everything after it is rewritten
        rows.set(keyOf(row.data), row.data);
        validBytes += Buffer.byteLength(line) + 1;
      }
    }
    const handle = await open(path, 'a+');
    await handle.truncate(validBytes);
    return new Journal(path, rows, handle, keyOf);
  }

  has(key: string): boolean {
    return this.rows.has(key);
  }

  /** Resolves once the row is in the file. Rows appended while a write is in flight share the next one. */
  async append(row: T): Promise<void> {
    const key = this.keyOf(row);
    if (this.rows.has(key)) return;
    this.rows.set(key, row);
    this.unwritten.push(this.scrub(JSON.stringify(row)) + '\n');
    this.writing ??= this.drain();
    await this.writing;
  }

  private unwritten: string[] = [];
  private writing: Promise<void> | null = null;
  private readonly scrub = secretScrubber();

  private async drain(): Promise<void> {
    try {
      // Yield first, so that `writing` is set before this can finish.
      await Promise.resolve();
      while (this.unwritten.length > 0) {
        const batch = this.unwritten.join('');
        this.unwritten = [];
        await this.handle.appendFile(batch);
      }
    } finally {
      this.writing = null;
    }
  }

  async close(): Promise<void> {
    await this.writing?.catch(() => undefined);
    await this.handle.close();
  }

  async discard(): Promise<void> {
    await this.close();
    await rm(this.path, { force: true });
  }
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

export interface JournalledStep<T> {
  out: string;
  /** The step's output key (see reuse.ts): a journal only ever holds rows made for that key. */
  key: string;
  schema: RecordSchemaName;
  rowSchema: z.ZodType<T>;
  keyOf: (row: T) => string;
  order: (a: T, b: T) => number;
  stats: (rows: T[]) => Record<string, number>;
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
export async function journalledStep<T>(
  step: JournalledStep<T>,
  work: (journal: Journal<T>, lease: ShardLease) => Promise<unknown>,
): Promise<Manifest> {
  const started = Date.now();
  const path = `${step.out}.${step.key.slice(0, 16)}.journal`;
  // Only the lease holder reads and writes the journal: no request is sent twice by two live attempts.
  const lease = await ShardLease.acquire(path);
  let done = false;
  try {
    const already = await step.finished?.();
    if (already) return already;
    const journal = await Journal.open(path, step.rowSchema, step.keyOf);
    if (journal.rows.size > 0)
      activityLine('info', `${step.out}: resuming from its journal, ${journal.rows.size} rows done`);
    try {
      // mapLimit lets requests in flight land in the journal before it throws, superseded or not.
      await work(journal, lease);
      lease.check();
      const rows = [...journal.rows.values()].sort(step.order);
      const manifest = await writeJsonlWithManifest(step.out, step.schema, rows, step.producedBy, {
        stats: step.stats(rows),
        wallMs: Date.now() - started,
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
