import { ConfigError, keyPath, parseRunConfig } from './errors.js';
import { RunConfig } from './run.js';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge key by key; anything else (numbers, strings, lists) replaces the old value. */
function merge(base: unknown, patch: unknown): unknown {
  if (!isObject(base) || !isObject(patch)) return patch;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) out[key] = merge(base[key], value);
  return out;
}

/** Key paths whose values differ between two configs (leaves; lists of the same length item by item). */
function changedPaths(before: unknown, after: unknown, prefix: string[] = []): string[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((k) => changedPaths(before[k], after[k], [...prefix, k]));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length)
    return before.flatMap((v, i) => changedPaths(v, after[i], [...prefix, String(i)]));
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [keyPath(prefix)];
}

/** Tuning of an endpoint: how hard and how long it is asked, never where or with which key. */
const ENDPOINT_TUNING = [
  'maxConcurrency',
  'requestTimeoutMs',
  'supportsN',
  'maxAttempts',
  'outageBudgetHours',
  'ejectCooldownMs',
];
const endpoints = [
  'policy.endpoint',
  'evaluation.endpoint',
  'judge.llm.endpoint',
  'judge.rewardModel.endpoint',
];

/**
 * The keys a running run may change (`*` is any one key or list index): budgets, counts, sampling,
 * judging and evaluation choices, training hyperparameters and endpoint tuning. Everything else (what
 * program runs, with which free-form arguments, where files are read or written, where requests go and
 * with which key) is fixed for the life of the run: whoever may send an update does not gain the
 * worker's powers through it. docs/operations.md lists them.
 */
export const UPDATABLE_KEYS: readonly string[] = [
  'iterations',
  'shardSize',
  'maxShards',
  'maxShardsInFlight',
  'sampling.*',
  'refinement.*',
  'pairing.*',
  'judge.verifier',
  ...['model', 'mode', 'rubric', 'maxScore', 'structuredOutput', 'attempts', 'maxTokens'].map(
    (k) => `judge.llm.${k}`,
  ),
  ...['batchSize', 'attempts'].map((k) => `judge.rewardModel.${k}`),
  ...[
    'beta',
    'nll',
    'srpoAlpha',
    'learningRate',
    'epochs',
    'batchSize',
    'gradientAccumulation',
    'maxLength',
    'saveSteps',
    'maxRestarts',
    'lora.r',
    'lora.alpha',
    'lora.dropout',
    'numGpus',
    'numCpus',
    'gpus',
  ].map((k) => `trainer.${k}`),
  ...[
    'strategy',
    'samples',
    'refineRounds',
    'keep',
    'temperature',
    'maxTokens',
    'keepBest',
    'judgeAccuracy',
    'iterationZero',
  ].map((k) => `evaluation.${k}`),
  ...['limit', 'seed', 'bootstrapRounds', 'judge.rubric', 'judge.attempts'].map(
    (k) => `evaluation.suites.*.${k}`,
  ),
  ...[...endpoints, 'evaluation.suites.*.judge.endpoint'].flatMap((e) =>
    ENDPOINT_TUNING.map((k) => `${e}.${k}`),
  ),
];

const UPDATABLE = UPDATABLE_KEYS.map(
  (pattern) => new RegExp(`^${pattern.replaceAll('.', '\\.').replaceAll('*', '[^.]+')}(\\.|$)`),
);
const updatable = (path: string) => UPDATABLE.some((re) => re.test(path));

export interface ConfigUpdate {
  config: RunConfig;
  /** Key paths the update changed, e.g. `sampling.temperature`. */
  changed: string[];
}

/** `current` with `patch` merged in (objects merge key by key, lists replace), validated by the schema. */
export function mergeConfig(current: RunConfig, patch: unknown, source: string): RunConfig {
  if (!isObject(patch))
    throw new ConfigError(`${source} is invalid:\n  (root): expected an object of keys to change`);
  return parseRunConfig(merge(current, patch), source);
}

/**
 * A running run's config with `patch` merged in, validated by the same schema as a new run. Only the
 * UPDATABLE_KEYS may change, and `iterations` may not drop below the iterations already started.
 */
export function applyConfigUpdate(current: RunConfig, patch: unknown, started: number): ConfigUpdate {
  const source = 'config update';
  const config = mergeConfig(current, patch, source);
  const changed = changedPaths(current, config);
  const problems = [
    ...changed
      .filter((path) => !updatable(path))
      .map(
        (path) =>
          `  ${path}: fixed for the life of a run (an update changes only budgets, counts, sampling, judging and evaluation choices, training hyperparameters and endpoint tuning); start a new run to change it`,
      ),
    ...(config.iterations < started
      ? [`  iterations: must be at least ${started} (iterations already started)`]
      : []),
  ];
  if (problems.length > 0) throw new ConfigError(`${source} is invalid:\n${problems.join('\n')}`);
  return { config, changed };
}
