import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { secretScrubber } from '../core/redact.js';

/** Bad data in a file: the message names the file and line, so it can be fixed by hand. */
export class DataError extends Error {
  override name = 'DataError';
}

/**
 * Largest user-supplied input file a reader holds in memory, by how it is read (docs/security.md). A
 * reader must survive the worst file under its cap on a 64 MB heap (test/unit/input-heap.test.ts), so
 * each cap is what its parse allows there, measured: JSONL rows are parsed as they stream and only the
 * rows are kept (8 MiB of 50-byte rows: 34 MB; 16 MiB ran out; a JSONL prompt file is only streamed, so
 * it has none); a JSON array is held as text and parsed whole (8 MiB: 56 MB); a CSV row becomes several
 * objects (512 KiB: 32 MB); a YAML document's nodes take some 250 times its text (64 KiB: 38 MB). The
 * official files are far below: AlpacaEval's 805 instructions with outputs and Arena-Hard's 500 answers
 * are a few MB, df_gamed.csv 100 KB, a judge config 1 KB.
 */
export const INPUT_FILE_CAPS = {
  jsonl: 8 * 2 ** 20,
  json: 8 * 2 ** 20,
  csv: 512 * 2 ** 10,
  yaml: 64 * 2 ** 10,
} as const;
export type InputFileKind = keyof typeof INPUT_FILE_CAPS;

/** Refuses `path` if it is over its kind's cap, by its size alone: nothing of it is read. */
export async function checkInputSize(path: string, kind: InputFileKind): Promise<void> {
  const { size } = await stat(path);
  const cap = INPUT_FILE_CAPS[kind];
  if (size > cap)
    throw new DataError(
      `${path}: ${size} bytes, over the ${cap} bytes a ${kind.toUpperCase()} input file may have (it is held in memory)`,
    );
}

/** A user-supplied text file read whole (YAML, CSV, a JSON array), refused first if over its cap. */
export async function readInputText(path: string, kind: Exclude<InputFileKind, 'jsonl'>): Promise<string> {
  await checkInputSize(path, kind);
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
