/** Helpers of the bad-input table (test/unit/bad-input.test.ts): scratch files, the demo config with one key changed, the row shape. */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { demoConfig } from './config.js';

export const dir = mkdtempSync(join(tmpdir(), 'evolve-bad-input-'));
let n = 0;
export const file = (content: string | Buffer, ext = 'yaml') => {
  const path = join(dir, `input-${++n}.${ext}`);
  writeFileSync(path, content);
  return path;
};
export const good = demoConfig();
export type Json = Record<string, unknown>;
/** The demo config with `patch` merged at `path` (a dotted key path). */
export function withAt(path: string, value: unknown): Json {
  const copy = structuredClone(good) as unknown as Json;
  const keys = path.split('.');
  let node = copy;
  for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Json;
  node[keys.at(-1)!] = value;
  return copy;
}

export interface Row {
  area:
    | 'config'
    | 'config file'
    | 'data file'
    | 'official results'
    | 'cli'
    | 'server reply'
    | 'update'
    | 'temporal connection';
  input: string;
  /** Rejects (or throws) with a refusal; `expect` is what its message must name. */
  run: () => unknown;
  expect: RegExp;
  /** What the refusal names: a key path, a file:line, a file, a flag, a value. */
  names: 'key path' | 'file:line' | 'file' | 'flag' | 'value';
}
