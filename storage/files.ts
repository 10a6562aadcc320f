import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { secretScrubber } from '../core/redact.js';

/** Bad data in a file: the message names the file and line, so it can be fixed by hand. */
export class DataError extends Error {
  override name = 'DataError';
}

/**
 * Largest user-supplied input file held in memory whole (docs/security.md): a JSON array, a YAML or CSV
 * file, or a JSONL file whose rows are all kept. The cap bounds the worker's memory per file, not per row:
 * AlpacaEval's 805 instructions with outputs are a few MB, Arena-Hard's 500 answers about as much.
 */
export const MAX_INPUT_FILE_BYTES = 64 * 2 ** 20;

/** Refuses `path` if it is over MAX_INPUT_FILE_BYTES, by its size alone: nothing of it is read. */
export async function checkInputSize(path: string): Promise<void> {
  const { size } = await stat(path);
  if (size > MAX_INPUT_FILE_BYTES)
    throw new DataError(
      `${path}: ${size} bytes, over the ${MAX_INPUT_FILE_BYTES} bytes an input file may have (it is held in memory whole)`,
    );
}

/** A user-supplied text file read whole (YAML, CSV, a JSON array), refused first if over the cap. */
export async function readInputText(path: string): Promise<string> {
  await checkInputSize(path);
  return readFile(path, 'utf8');
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Writes `content` to `path` through a temp file and a rename, so readers never see half a file. */
export async function writeAtomic(path: string, content: string | Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, typeof content === 'string' ? secretScrubber()(content) : content);
  await rename(tmp, path);
}
