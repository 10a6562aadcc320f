import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { secretScrubber } from '../core/redact.js';

/** Bad data in a file: the message names the file and line, so it can be fixed by hand. */
export class DataError extends Error {
  override name = 'DataError';
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
