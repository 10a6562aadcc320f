import { ConfigError, keyPath, parseRunConfig } from './errors.js';
import { RunConfig } from './run.js';

/** Keys fixed for the life of a run: they name it, place its artifacts and start its policy chain. */
export const FIXED_KEYS = ['runId', 'artifactRoot', 'policy.baseModel'] as const;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge key by key; anything else (numbers, strings, lists) replaces the old value. */
function merge(base: unknown, patch: unknown): unknown {
  if (!isObject(base) || !isObject(patch)) return patch;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) out[key] = merge(base[key], value);
  return out;
}

/** Key paths whose values differ between two configs (leaves only). */
function changedPaths(before: unknown, after: unknown, prefix: string[] = []): string[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((k) => changedPaths(before[k], after[k], [...prefix, k]));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [keyPath(prefix)];
}

/**
 * Keys whose values run code or receive data and keys (executables, commands, endpoints, key
 * references), wherever they sit (suites' judges included). An update of a running run may not touch
 * them: whoever may send an update should not gain the worker's powers through it.
 */
const GUARDED_KEYS = new Set([
  'baseUrl',
  'baseUrls',
  'apiKeyEnv',
  'tokenEnv',
  'address',
  'apiServer',
  'python',
  'image',
  'command',
  'runtimeEnv',
  'backend',
  'serviceAccountName',
]);

/** `key.path -> JSON value` of every guarded key in a config. */
function guardedValues(value: unknown, prefix: string[] = [], out = new Map<string, string>()) {
  if (Array.isArray(value)) value.forEach((v, i) => guardedValues(v, [...prefix, String(i)], out));
  else if (isObject(value))
    for (const [k, v] of Object.entries(value)) {
      if (GUARDED_KEYS.has(k)) out.set(keyPath([...prefix, k]), JSON.stringify(v));
      else guardedValues(v, [...prefix, k], out);
    }
  return out;
}

/** Guarded keys whose value an update adds, removes or changes. */
function guardedChanges(before: RunConfig, after: RunConfig): string[] {
  const [a, b] = [guardedValues(before), guardedValues(after)];
  return [...new Set([...a.keys(), ...b.keys()])].filter((path) => a.get(path) !== b.get(path));
}

export interface ConfigUpdate {
  config: RunConfig;
  /** Key paths the update changed, e.g. `sampling.temperature`. */
  changed: string[];
}

/**
 * A running run's config with `patch` merged in, validated by the same schema as a new run. Fixed
 * keys may not change, and `iterations` may not drop below the iterations already started.
 */
export function applyConfigUpdate(current: RunConfig, patch: unknown, started: number): ConfigUpdate {
  const source = 'config update';
  if (!isObject(patch))
    throw new ConfigError(`${source} is invalid:\n  (root): expected an object of keys to change`);
  const merged = merge(current, patch);
  const config = parseRunConfig(merged, source);
  const changed = changedPaths(current, config);
  const problems = [
    ...changed
      .filter((path) => FIXED_KEYS.some((fixed) => path === fixed || path.startsWith(`${fixed}.`)))
      .map((path) => `  ${path}: fixed for the life of a run; start a new run to change it`),
    ...guardedChanges(current, config).map(
      (path) =>
        `  ${path}: executables, commands, endpoints and key references of a running run may not change; start a new run to change it`,
    ),
    ...(config.iterations < started
      ? [`  iterations: must be at least ${started} (iterations already started)`]
      : []),
  ];
  if (problems.length > 0) throw new ConfigError(`${source} is invalid:\n${problems.join('\n')}`);
  return { config, changed };
}
