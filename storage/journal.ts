import { createReadStream } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { secretScrubber } from '../core/redact.js';
import { exists } from './files.js';
import type { JsonlWriter } from './jsonl-writer.js';

/** Where a journalled row's line is in the file, and what the step keeps of it in memory. */
interface Entry<S> {
  at: number;
  bytes: number;
  summary: S;
}

/** The rows a copy reads from the file at once: a few MiB with answers of a few KiB. */
const COPY_BATCH = 512;

/**
 * An append-only journal of finished rows for one step. After a crash the next attempt reopens it,
 * keeps every complete line (a torn last line is discarded) and skips the work those rows represent.
 * Rows stay on disk: memory holds where each line is and the step's summary of it (what it sorts and
 * counts by), so a shard of long answers costs a few bytes a row.
 */
export class Journal<T, S = T> {
  private constructor(
    readonly path: string,
    private readonly entries: Map<string, Entry<S>>,
    private readonly handle: Awaited<ReturnType<typeof open>>,
    private readonly schema: z.ZodType<T>,
    private readonly keyOf: (row: T) => string,
    private readonly summarise: (row: T) => S,
    private end: number,
  ) {}

  static async open<T, S = T>(
    path: string,
    schema: z.ZodType<T>,
    keyOf: (row: T) => string,
    summarise: (row: T) => S = (row) => row as unknown as S,
  ): Promise<Journal<T, S>> {
    await mkdir(dirname(path), { recursive: true });
    const entries = new Map<string, Entry<S>>();
    let validBytes = 0;
    if (await exists(path)) {
      for await (const line of lines(path)) {
        const row = line.text.trim() === '' ? undefined : schema.safeParse(safeJson(line.text));
        if (!row?.success) break; // torn tail from a crash: everything after it is rewritten
        entries.set(keyOf(row.data), { at: line.at, bytes: line.bytes, summary: summarise(row.data) });
        validBytes = line.at + line.bytes;
      }
    }
    const handle = await open(path, 'a+');
    await handle.truncate(validBytes);
    return new Journal(path, entries, handle, schema, keyOf, summarise, validBytes);
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** A journalled row, read back from the file; undefined when the journal has none under `key`. */
  async read(key: string): Promise<T | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    await this.writing;
    const bytes = Buffer.alloc(entry.bytes);
    await this.handle.read(bytes, 0, entry.bytes, entry.at);
    return this.schema.parse(JSON.parse(bytes.toString('utf8')));
  }

  /** Resolves once the row is in the file. Rows appended while a write is in flight share the next one. */
  async append(row: T): Promise<void> {
    const key = this.keyOf(row);
    if (this.entries.has(key)) return;
    const line = Buffer.from(this.scrub(JSON.stringify(row)) + '\n');
    this.entries.set(key, { at: this.end, bytes: line.length, summary: this.summarise(row) });
    this.end += line.length;
    this.unwritten.push(line);
    this.writing ??= this.drain();
    await this.writing;
  }

  private unwritten: Buffer[] = [];
  private writing: Promise<void> | null = null;
  private readonly scrub = secretScrubber();

  private async drain(): Promise<void> {
    try {
      // Yield first, so that `writing` is set before this can finish.
      await Promise.resolve();
      while (this.unwritten.length > 0) {
        const batch = Buffer.concat(this.unwritten);
        this.unwritten = [];
        await this.handle.appendFile(batch);
      }
    } finally {
      this.writing = null;
    }
  }

  summaries(): S[] {
    return [...this.entries.values()].map((e) => e.summary);
  }

  /**
   * Copies every row, ordered by `order` over their summaries, into `out`: the journal's bytes as they
   * are (scrubbed and validated when they were written or reopened), a batch of rows at a time.
   */
  async copyTo(out: JsonlWriter, order: (a: S, b: S) => number): Promise<void> {
    await this.writing;
    const sorted = [...this.entries.values()].sort((a, b) => order(a.summary, b.summary));
    for (let i = 0; i < sorted.length; i += COPY_BATCH) {
      const batch = sorted.slice(i, i + COPY_BATCH);
      const chunk = Buffer.alloc(batch.reduce((n, e) => n + e.bytes, 0));
      let offset = 0;
      const reads = batch.map((e) => {
        const read = this.handle.read(chunk, offset, e.bytes, e.at);
        offset += e.bytes;
        return read;
      });
      await Promise.all(reads);
      await out.writeLines(chunk, batch.length);
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

/** The lines of a file with their byte offsets, read a chunk at a time. */
async function* lines(path: string): AsyncGenerator<{ text: string; at: number; bytes: number }> {
  let carry: Buffer = Buffer.alloc(0);
  let at = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    const buffer = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
    let start = 0;
    for (let newline = buffer.indexOf(10); newline !== -1; newline = buffer.indexOf(10, start)) {
      const bytes = newline + 1 - start;
      yield { text: buffer.toString('utf8', start, newline), at, bytes };
      at += bytes;
      start = newline + 1;
    }
    carry = buffer.subarray(start);
  }
  // A last line without its newline is a torn write: not yielded, so it is rewritten.
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
