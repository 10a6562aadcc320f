import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Transform } from 'node:stream';
import type { z } from 'zod';
import { formatIssues } from '../core/config.js';
import { checkInputSize, DataError } from './files.js';

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

/** Streams a JSONL file, validating each row, with where it stands (file:line); errors name file and line. */
export async function* readJsonlAt<T>(
  path: string,
  schema: z.ZodType<T>,
): AsyncGenerator<{ row: T; where: string }> {
  const source = createReadStream(path);
  const input = source.pipe(rowLimit(path));
  source.once('error', (err) => input.destroy(err)); // a missing file or a directory fails the loop below
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      const where = `${path}:${lineNo}`;
      yield { row: parseRow(line, schema, where), where };
    }
  } finally {
    // A reader that stops early (a bad row downstream) closes the file now, not when it is collected.
    source.destroy();
  }
}

/** Streams a JSONL file, validating each row; errors name file and line. */
export async function* readJsonl<T>(path: string, schema: z.ZodType<T>): AsyncGenerator<T> {
  for await (const { row } of readJsonlAt(path, schema)) yield row;
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

/** Every row of a JSONL file the run wrote itself (its size is the run's own doing). */
export async function readAll<T>(path: string, schema: z.ZodType<T>): Promise<T[]> {
  const rows: T[] = [];
  for await (const row of readJsonl(path, schema)) rows.push(row);
  return rows;
}

/**
 * Every row of a user-supplied JSONL file, held in memory: the file is refused first if it is over its
 * cap (INPUT_FILE_CAPS), since rows under the row cap can still add up to more than the worker's heap.
 */
export async function readInputRows<T>(path: string, schema: z.ZodType<T>): Promise<T[]> {
  await checkInputSize(path, 'jsonl');
  return readAll(path, schema);
}
