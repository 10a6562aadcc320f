import { readFile, stat } from 'node:fs/promises';
import type { z } from 'zod';
import { formatIssues } from '../../core/config.js';
import { DataError } from '../files.js';

/** The 1-based line on which each top-level element of a JSON array starts (strings are skipped). */
function elementLines(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let expectElement = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (/\s/.test(c)) continue;
    if (depth === 1 && expectElement && c !== ']') {
      lines.push(line);
      expectElement = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectElement = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectElement = true;
  }
  return lines;
}

/**
 * Largest JSON array file read (docs/security.md). It is parsed whole, so the cap bounds the worker's
 * memory: AlpacaEval's 805 instructions with outputs are a few MB.
 */
export const MAX_JSON_ARRAY_BYTES = 64 * 2 ** 20;

/** Reads a JSON array file (AlpacaEval's format), validating each element; errors name file:line. */
export async function readJsonArray<T>(path: string, schema: z.ZodType<T>): Promise<T[]> {
  const { size } = await stat(path);
  if (size > MAX_JSON_ARRAY_BYTES)
    throw new DataError(
      `${path}: ${size} bytes, over the ${MAX_JSON_ARRAY_BYTES} bytes a JSON array file may have (it is read whole)`,
    );
  const text = await readFile(path, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DataError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(json)) throw new DataError(`${path}: expected a JSON array of records`);
  const lines = elementLines(text);
  return json.map((element: unknown, index) => {
    const parsed = schema.safeParse(element);
    if (!parsed.success)
      throw new DataError(
        formatIssues(parsed.error, element, `${path}:${lines[index] ?? 1} (item ${index})`),
      );
    return parsed.data;
  });
}
