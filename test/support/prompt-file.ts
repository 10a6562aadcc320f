import type { PromptSource } from '../../core/config.js';
import type { PromptRecord } from '../../core/records.js';
import { streamPromptFile } from '../../storage/benchmarks/loaders.js';

/** Every prompt of a file source, collected: a test's files are small, the worker streams them. */
export async function readPromptFile(
  source: Extract<PromptSource, { kind: 'file' }>,
): Promise<PromptRecord[]> {
  const rows: PromptRecord[] = [];
  for await (const row of streamPromptFile(source)) rows.push(row);
  return rows;
}
