import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';
import { secretScrubber } from '../core/redact.js';
import { exists } from './files.js';

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
