import type { z } from 'zod';
import { formatIssues } from '../../core/config.js';
import { DataError, readInputText } from '../files.js';

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

/** Reads a JSON array file (AlpacaEval's format), validating each element; errors name file:line. */
export async function readJsonArray<T>(path: string, schema: z.ZodType<T>): Promise<T[]> {
  const text = await readInputText(path, 'json');
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
