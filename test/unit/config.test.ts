import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfigFile } from '../../client/config-file.js';
import { ConfigError, parseRunConfig, replicaUrls } from '../../core/config.js';

test('the shipped demo config is valid and fills defaults', () => {
  const config = loadConfigFile('deploy/demo/config.yaml');
  assert.equal(config.runId, 'demo');
  assert.equal(config.sampling.chainDepth, 2);
  assert.equal(config.trainer.reference, 'previous');
  assert.equal(config.policy.endpoint.requestTimeoutMs, 300_000);
});

test('a wrong key and a wrong value are named with their path and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'evolve-config-'));
  const path = join(dir, 'bad.yaml');
  const good = loadConfigFile('deploy/demo/config.yaml');
  const text = JSON.stringify(
    { ...good, sampling: { ...good.sampling, samples: 0, tempreature: 1 } },
    null,
    2,
  );
  writeFileSync(path, text);
  const lineOf = (needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
  assert.throws(
    () => loadConfigFile(path),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(
        err.message,
        new RegExp(
          `sampling\\.samples \\(${path}:${lineOf('"samples"')}\\): Too small: expected number to be >=1`,
        ),
      );
      assert.match(
        err.message,
        new RegExp(`sampling\\.tempreature \\(${path}:${lineOf('"tempreature"')}\\): unknown key`),
      );
      return true;
    },
  );
  assert.deepEqual(readdirSync(dir), ['bad.yaml'], 'validation writes nothing');
});

test('workflow input is checked by the same schema', () => {
  assert.throws(() => parseRunConfig({ runId: 'UPPER' }, 'workflow input'), /runId: lower-case letters/);
});

test('a config file that is not YAML names the line', () => {
  const path = join(mkdtempSync(join(tmpdir(), 'evolve-config-')), 'broken.yaml');
  writeFileSync(path, 'runId: demo\niterations: [1,\n');
  assert.throws(() => loadConfigFile(path), /broken\.yaml:\d+: not valid YAML/);
});

test('an endpoint has one baseUrl or a list of replicas, never both or neither', () => {
  const good = loadConfigFile('deploy/demo/config.yaml');
  const withEndpoint = (endpoint: Record<string, unknown>) => ({
    ...good,
    policy: { ...good.policy, endpoint },
  });
  const replicas = ['http://10.0.0.1:8000/v1', 'http://10.0.0.2:8000/v1'];
  const parsed = parseRunConfig(
    withEndpoint({ baseUrls: replicas, supportsN: true, extraBody: { top_k: 20 } }),
  );
  assert.deepEqual(replicaUrls(parsed.policy.endpoint), replicas);
  assert.equal(parsed.policy.endpoint.supportsN, true);
  for (const endpoint of [{ baseUrl: replicas[0], baseUrls: replicas }, {}]) {
    assert.throws(
      () => parseRunConfig(withEndpoint(endpoint)),
      /policy\.endpoint\.baseUrl: set exactly one of baseUrl and baseUrls/,
    );
  }
  assert.throws(
    () => parseRunConfig(withEndpoint({ baseUrls: ['ftp://x'] })),
    /policy\.endpoint\.baseUrls\.0: /,
  );
});

test('a judge kind without its settings, or text input without a template, names the key', () => {
  const good = loadConfigFile('deploy/demo/config.yaml');
  assert.throws(
    () => parseRunConfig({ ...good, judge: { kind: 'reward-model' } }),
    /judge\.rewardModel: required when kind is "reward-model"/,
  );
  assert.throws(
    () =>
      parseRunConfig({
        ...good,
        judge: {
          kind: 'reward-model',
          rewardModel: { api: 'openrlhf', endpoint: { baseUrl: 'http://h:5000' } },
        },
      }),
    /judge\.rewardModel\.chatTemplate: required for text input/,
  );
  assert.throws(
    () => parseRunConfig({ ...good, pairing: { ...good.pairing, rule: 'best-of' } }),
    /pairing\.rule: Invalid option/,
  );
  const none = parseRunConfig({ ...good, judge: { kind: 'none', verifier: 'math' } });
  assert.equal(none.judge.llm, undefined);
  assert.deepEqual(none.pairing.weights, { direct: 1, refinement: 1 });
  const srpo = (pairing: object) => ({
    ...good,
    pairing: { ...good.pairing, ...pairing },
    trainer: { ...good.trainer, loss: 'srpo' },
  });
  assert.equal(parseRunConfig(srpo({})).trainer.loss, 'srpo');
  assert.throws(
    () => parseRunConfig(srpo({ refinementPairs: false })),
    /pairing\.refinementPairs: trainer\.loss srpo reads c\(x, y_l, z\) from the refinement rows/,
  );
  assert.throws(
    () => parseRunConfig(srpo({ weights: { direct: 1, refinement: 0.5 } })),
    /pairing\.weights: pairing\.weights weight the terms of the dpo loss/,
  );
});

test('policy.serve: by-path when absent, restart needs a command, an unknown kind is named', () => {
  const good = loadConfigFile('deploy/demo/config.yaml');
  const withServe = (serve: unknown) => ({ ...good, policy: { ...good.policy, serve } });
  assert.equal(parseRunConfig(good).policy.serve, undefined, 'absent: the config hash stays as it was');
  const restart = parseRunConfig(withServe({ kind: 'restart', command: ['systemctl', 'restart', 'vllm'] }));
  assert.deepEqual(restart.policy.serve, {
    kind: 'restart',
    command: ['systemctl', 'restart', 'vllm'],
    healthTimeoutMs: 900_000,
  });
  assert.throws(() => parseRunConfig(withServe({ kind: 'restart' })), /policy\.serve\.command: required/);
  assert.throws(
    () => parseRunConfig(withServe({ kind: 'vllm-lora', command: ['x'] })),
    /policy\.serve\.command: unknown key/,
  );
  assert.throws(() => parseRunConfig(withServe({ kind: 'sglang' })), /policy\.serve\.kind: /);
  assert.throws(
    () => parseRunConfig(withServe({ kind: 'vllm-lora' })),
    /policy\.serve\.kind: vllm-lora serves each checkpoint as a LoRA adapter: it needs trainer\.lora/,
  );
  const lora = parseRunConfig({
    ...withServe({ kind: 'vllm-lora' }),
    trainer: { ...good.trainer, lora: { r: 4, alpha: 8 } },
  });
  assert.deepEqual(lora.policy.serve, { kind: 'vllm-lora' });
});

test('evaluation.suites: defaults filled, a bad suite named by its path', () => {
  const base = loadConfigFile('deploy/demo/config.yaml');
  const endpoint = { baseUrl: 'http://127.0.0.1:8000/v1' };
  const withSuites = (suites: unknown[]) =>
    parseRunConfig({ ...base, evaluation: { ...base.evaluation, suites } });
  const config = withSuites([
    { name: 'gsm8k', kind: 'accuracy', prompts: { kind: 'file', path: 'test.jsonl', format: 'gsm8k' } },
    { name: 'alpaca', kind: 'alpaca-eval', prompts: 'reference.json', judge: { endpoint } },
    {
      name: 'arena',
      kind: 'arena-hard',
      prompts: 'question.jsonl',
      baseline: 'gpt-4-0314.jsonl',
      judge: { endpoint, config: 'judge_config.yaml' },
    },
  ]);
  assert.deepEqual(
    config.evaluation.suites!.map((s) => [s.kind, 'verifier' in s ? s.verifier : s.seed]),
    [
      ['accuracy', 'numeric'],
      ['alpaca-eval', 0],
      ['arena-hard', 42],
    ],
  );
  // The official judges take their wording from the official files: a rubric is refused.
  assert.throws(
    () =>
      withSuites([
        { name: 'alpaca', kind: 'alpaca-eval', prompts: 'r.json', judge: { endpoint, rubric: 'x' } },
      ]),
    /evaluation\.suites\.0\.judge\.rubric: unknown key/,
  );
  assert.throws(
    () =>
      withSuites([
        {
          name: 'arena',
          kind: 'arena-hard',
          prompts: 'question.jsonl',
          judge: { endpoint, config: 'j.yaml' },
        },
      ]),
    /evaluation\.suites\.0\.baseline: required/,
  );
  assert.throws(
    () =>
      withSuites([
        { name: 'a', kind: 'alpaca-eval', prompts: 'x.json', judge: { endpoint } },
        { name: 'a', kind: 'alpaca-eval', prompts: 'y.json', judge: { endpoint } },
      ]),
    /evaluation\.suites: suite names must be unique/,
  );
  assert.throws(
    () => withSuites([{ name: 'Bad Name', kind: 'alpaca-eval', prompts: 'x.json', judge: { endpoint } }]),
    /evaluation\.suites\.0\.name: lower-case letters/,
  );
});

test('iterations 0 evaluates the initial policy only; with iteration 0 turned off it is refused', () => {
  const good = loadConfigFile('deploy/demo/config.yaml');
  assert.equal(parseRunConfig({ ...good, iterations: 0 }).iterations, 0);
  assert.throws(
    () =>
      parseRunConfig({ ...good, iterations: 0, evaluation: { ...good.evaluation, iterationZero: false } }),
    /iterations: iterations 0 runs iteration 0 only, and evaluation\.iterationZero false turns it off/,
  );
  assert.throws(() => parseRunConfig({ ...good, iterations: -1 }), /iterations/);
});

test('a Ray job is placed by custom resources only: CPUs and GPUs have their own keys', () => {
  const good = loadConfigFile('deploy/demo/config.yaml');
  const ray = (entrypointResources: Record<string, number>) =>
    parseRunConfig({
      ...good,
      trainer: { backend: 'ray', address: 'http://127.0.0.1:8265', entrypointResources },
    });
  const placed = ray({ trainer: 1 }).trainer;
  assert.deepEqual(placed.backend === 'ray' && placed.entrypointResources, { trainer: 1 });
  assert.throws(
    () => ray({ GPU: 1 }),
    /trainer\.entrypointResources\.GPU: set CPUs and GPUs with numCpus and numGpus/,
  );
});
