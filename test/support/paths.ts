import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** Binaries the bootstrap installs into .evolve/venv; tests use them instead of downloading their own. */
const bin = (name: string) => resolve(process.env.EVOLVE_HOME ?? '.evolve', 'venv', 'bin', name);

export const temporalCli = bin('temporal');
export const testServer = bin('temporal-test-server');
export const pythonBin = bin('python');
export const rayBin = bin('ray');
export const baseModel = resolve(process.env.EVOLVE_HOME ?? '.evolve', 'models', 'smollm2-135m-instruct');

export function requireInstalled(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run bootstrap\` first`);
  return path;
}

/** Registers evolve's search attributes on the time-skipping server (the dev server takes them as flags). */
export async function registerSearchAttributes(connection: {
  operatorService: {
    addSearchAttributes(req: {
      namespace: string;
      searchAttributes: Record<string, number>;
    }): Promise<unknown>;
  };
}): Promise<void> {
  const { searchAttributeKeys } = await import('../../core/search-attributes.js');
  const indexed = { KEYWORD: 2, INT: 3 } as Record<string, number>; // temporal.api.enums.v1.IndexedValueType
  const searchAttributes = Object.fromEntries(searchAttributeKeys.map((k) => [k.name, indexed[k.type]!]));
  await connection.operatorService.addSearchAttributes({ namespace: 'default', searchAttributes });
}

/**
 * The shared evaluation data (`shared/data`, see its README): $EVOLVE_SHARED_DATA, else the first
 * `shared/data` in the working directory's ancestors (`../shared/data` beside a clone, or further up
 * from a worktree). Undefined where there is none, so the tests that need it skip: a user's clone has
 * none, and `EVOLVE_SHARED_DATA=none` hides it to run the suite as they do (.ci/run).
 */
export function sharedData(): string | undefined {
  const named = process.env.EVOLVE_SHARED_DATA;
  if (named) return existsSync(named) ? resolve(named) : undefined;
  for (let dir = resolve('..'); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'shared', 'data'))) return join(dir, 'shared', 'data');
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * A file or folder of the shared data, and the reason to skip (node:test's `skip` option, which the
 * summary counts) where it is absent.
 */
export function sharedFile(path: string): { path: string; skip: string | false } {
  const data = sharedData();
  const full = join(data ?? 'shared/data', path);
  return {
    path: full,
    skip:
      !(data && existsSync(full)) &&
      `needs the full public data ${join('shared/data', path)}, absent here (EVOLVE_SHARED_DATA names it)`,
  };
}
