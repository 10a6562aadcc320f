import { loadConfigFile } from '../../client/config-file.js';
import { RunConfigSchema, type RunConfig } from '../../core/config.js';
import { baseModel, pythonBin } from './paths.js';

/**
 * The demo config with overrides: tests start from what users start from. Iteration 0 is off unless a
 * test turns it on, so the tests of other features see only the iterations they are about.
 */
export function demoConfig(overrides: Partial<RunConfig> = {}): RunConfig {
  const demo = loadConfigFile('deploy/demo/config.yaml');
  return { ...demo, evaluation: { ...demo.evaluation, iterationZero: false }, ...overrides };
}

/** The demo config on a test inference server, with small shards and a small CPU trainer. */
export function tinyConfig(baseUrl: string, artifactRoot: string, runId: string): RunConfig {
  const base = demoConfig();
  const endpoint = { ...base.policy.endpoint, baseUrl };
  return {
    ...base,
    runId,
    artifactRoot,
    policy: { endpoint, baseModel },
    shardSize: 4,
    judge: { ...base.judge, llm: { ...base.judge.llm!, endpoint } },
    trainer: { ...base.trainer, python: pythonBin, maxLength: 128, batchSize: 2 },
  };
}

/** The schema's shard settings, as a config that does not set them gets them. */
export function defaultSharding(): Pick<RunConfig, 'shardSize' | 'maxShards' | 'maxShardsInFlight'> {
  const { shardSize, maxShards, maxShardsInFlight } = RunConfigSchema.shape;
  return {
    shardSize: shardSize.parse(undefined),
    maxShards: maxShards.parse(undefined),
    maxShardsInFlight: maxShardsInFlight.parse(undefined),
  };
}
