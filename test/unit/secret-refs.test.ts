import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { openAIChat } from '../../activities/inference.js';
import { readSecret } from '../../core/secret-env.js';
import { loadConfigFile } from '../../client/config-file.js';
import { ConfigError, parseRunConfig } from '../../core/config.js';

const good = loadConfigFile('deploy/demo/config.yaml');
const dir = mkdtempSync(join(tmpdir(), 'evolve-secret-refs-'));
const withPolicyEndpoint = (endpoint: Record<string, unknown>) => ({
  ...good,
  policy: { ...good.policy, endpoint: { ...good.policy.endpoint, ...endpoint } },
});
let files = 0;
const fileOf = (config: unknown) => {
  const path = join(dir, `config-${++files}.yaml`);
  writeFileSync(path, stringify(config));
  return path;
};

test('apiKeyEnv may name only *_API_KEY or a variable listed in EVOLVE_SECRET_ENV', () => {
  const path = fileOf(withPolicyEndpoint({ apiKeyEnv: 'AWS_SECRET_ACCESS_KEY' }));
  assert.throws(
    () => loadConfigFile(path, {}),
    /policy\.endpoint\.apiKeyEnv \(.*config-\d+\.yaml:\d+\): AWS_SECRET_ACCESS_KEY is not an allowed key variable/,
  );
  assert.equal(
    loadConfigFile(path, { EVOLVE_SECRET_ENV: 'OTHER, AWS_SECRET_ACCESS_KEY' }).policy.endpoint.apiKeyEnv,
    'AWS_SECRET_ACCESS_KEY',
    'the operator may allow it explicitly',
  );
  assert.equal(
    loadConfigFile(fileOf(withPolicyEndpoint({ apiKeyEnv: 'OPENAI_API_KEY' })), {}).policy.endpoint.apiKeyEnv,
    'OPENAI_API_KEY',
  );
});

test("the worker's own credentials are never a key, even when listed", () => {
  for (const name of [
    'EVOLVE_CODEC_KEY',
    'TEMPORAL_API_KEY',
    'TEMPORAL_TLS_CLIENT_KEY_DATA',
    'EVOLVE_CODEC_TOKEN',
  ]) {
    assert.throws(
      () => parseRunConfig(withPolicyEndpoint({ apiKeyEnv: name })),
      new RegExp(`policy\\.endpoint\\.apiKeyEnv: ${name} holds the worker's own credentials`),
    );
    assert.throws(() => readSecret(name, 'apiKey', 'apiKeyEnv', { EVOLVE_SECRET_ENV: name }), ConfigError);
  }
});

test('the activity that reads a key checks the allow-list again', () => {
  process.env.EVOLVE_TEST_NOT_A_KEY = 'secret-value';
  try {
    assert.throws(
      () =>
        openAIChat({
          ...good.policy.endpoint,
          baseUrl: 'http://127.0.0.1:1/v1',
          apiKeyEnv: 'EVOLVE_TEST_NOT_A_KEY',
        }),
      /apiKeyEnv: EVOLVE_TEST_NOT_A_KEY is not an allowed key variable/,
    );
  } finally {
    delete process.env.EVOLVE_TEST_NOT_A_KEY;
  }
});

test('a key goes only over https or to loopback', () => {
  assert.throws(
    () => parseRunConfig(withPolicyEndpoint({ baseUrl: 'http://10.0.0.5:8000/v1', apiKeyEnv: 'X_API_KEY' })),
    /policy\.endpoint\.baseUrl: the key in X_API_KEY goes only over https/,
  );
  assert.throws(
    () =>
      parseRunConfig(
        withPolicyEndpoint({
          baseUrl: undefined,
          baseUrls: ['https://a.example/v1', 'http://b.example/v1'],
          apiKeyEnv: 'X_API_KEY',
        }),
      ),
    /policy\.endpoint\.baseUrls\.1: the key in X_API_KEY goes only over https/,
  );
  for (const baseUrl of ['https://api.example.com/v1', 'http://127.0.0.1:8000/v1', 'http://localhost:1/v1'])
    parseRunConfig(withPolicyEndpoint({ baseUrl, apiKeyEnv: 'X_API_KEY' }));
  parseRunConfig(withPolicyEndpoint({ baseUrl: 'http://10.0.0.5:8000/v1' }));
});

test('credentials anywhere else in a config are refused with the key path', () => {
  const cases: [unknown, RegExp][] = [
    [
      withPolicyEndpoint({ baseUrl: 'http://user:pw@127.0.0.1:8000/v1' }),
      /policy\.endpoint\.baseUrl: credentials in the URL/,
    ],
    [
      withPolicyEndpoint({ baseUrl: 'https://h.example/v1?api_key=sk-1' }),
      /policy\.endpoint\.baseUrl: query parameter "api_key"/,
    ],
    [
      withPolicyEndpoint({ baseUrl: 'https://h.example/v1?token=t' }),
      /policy\.endpoint\.baseUrl: query parameter "token"/,
    ],
    [
      withPolicyEndpoint({ extraBody: { top_k: 2, headers: { Authorization: 'Bearer x' } } }),
      /policy\.endpoint\.extraBody\.headers: a credential field/,
    ],
    [
      withPolicyEndpoint({ extraBody: { nested: [{ api_key: 'x' }] } }),
      /policy\.endpoint\.extraBody\.nested\.0\.api_key: a credential field/,
    ],
    [
      {
        ...good,
        trainer: {
          backend: 'ray',
          address: 'http://127.0.0.1:8265',
          runtimeEnv: { env_vars: { HF_TOKEN: 'hf_x', OMP_NUM_THREADS: '1' } },
        },
      },
      /trainer\.runtimeEnv\.env_vars\.HF_TOKEN: a secret would land in the run history/,
    ],
    [
      {
        ...good,
        trainer: { backend: 'kubernetes', apiServer: 'http://10.0.0.1:6443', image: 'x' },
      },
      /trainer\.apiServer: the bearer token goes only over https/,
    ],
  ];
  for (const [config, expected] of cases) assert.throws(() => parseRunConfig(config), expected);
  parseRunConfig(withPolicyEndpoint({ extraBody: { top_k: 20, stop_token_ids: [2] } }));
});

test('`evolve config` refuses a key variable outside the allow-list, naming the key path', async () => {
  const path = fileOf(withPolicyEndpoint({ apiKeyEnv: 'EVOLVE_CODEC_KEY' }));
  const result = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'client/cli.ts', 'config', path],
    {
      env: { ...process.env, EVOLVE_SECRET_ENV: 'EVOLVE_CODEC_KEY' },
    },
  ).then(
    () => ({ code: 0, stderr: '' }),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /policy\.endpoint\.apiKeyEnv \(.*:\d+\): EVOLVE_CODEC_KEY holds the worker's own/,
  );
});
