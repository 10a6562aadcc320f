import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

/**
 * The demo config on an OpenAI-compatible test server whose policy and judge keys come from
 * EVOLVE_TEST_POLICY_API_KEY / EVOLVE_TEST_JUDGE_API_KEY; open prompts (no gold answer, so the LLM
 * judge and its key are used too) are written to `artifactRoot`.
 */
export function keyedConfig(runId: string, artifactRoot: string, baseUrl: string): RunConfig {
  const base = demoConfig();
  const open = join(artifactRoot, 'open-prompts.jsonl');
  writeFileSync(
    open,
    `${openPrompts.map((prompt, i) => JSON.stringify({ id: `o${i + 1}`, prompt })).join('\n')}\n`,
  );
  const endpoint = (apiKeyEnv: string) => ({ ...base.policy.endpoint, baseUrl, apiKeyEnv });
  return {
    ...base,
    runId,
    artifactRoot,
    policy: { ...base.policy, endpoint: endpoint('EVOLVE_TEST_POLICY_API_KEY') },
    judge: { ...base.judge, llm: { ...base.judge.llm!, endpoint: endpoint('EVOLVE_TEST_JUDGE_API_KEY') } },
    prompts: [
      { kind: 'arithmetic', count: 2, seed: 3, maxOperand: 9 },
      { kind: 'file', path: open },
    ],
    evaluation: { ...base.evaluation, prompts: { kind: 'arithmetic', count: 2, seed: 9, maxOperand: 9 } },
  };
}
/** The open prompts of keyedConfig: text that must stay out of whatever is not a payload. */
export const openPrompts = ['Name a prime.', 'Say hi.'];

/** The schema's shard settings, as a config that does not set them gets them. */
export function defaultSharding(): Pick<RunConfig, 'shardSize' | 'maxShards' | 'maxShardsInFlight'> {
  const { shardSize, maxShards, maxShardsInFlight } = RunConfigSchema.shape;
  return {
    shardSize: shardSize.parse(undefined),
    maxShards: maxShards.parse(undefined),
    maxShardsInFlight: maxShardsInFlight.parse(undefined),
  };
}
