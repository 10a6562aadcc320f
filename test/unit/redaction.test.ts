import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { failFastOnBadInput } from '../../activities/index.js';
import { openAIChat } from '../../activities/inference.js';
import { redact, scrubValue, secretScrubber } from '../../core/redact.js';
import { rewardModelJudge } from '../../activities/judge-reward-model.js';
import { runHook } from '../../activities/serve-restart.js';
import { loadAdapter, vllmReplica } from '../../activities/serve-vllm.js';
import { kubernetesBackend } from '../../trainers/kubernetes.js';
import { EndpointSchema, RewardModelSchema, type KubernetesTrainer } from '../../core/config.js';
import { MockActivityEnvironment } from '@temporalio/testing';
import { withHeartbeat } from '../../activities/heartbeat.js';
import { holdsKey, quotedCredential, startEchoServer } from '../support/echo-server.js';
import { trainer } from '../support/training.js';

const KEY = `sk-echo-${randomBytes(16).toString('hex')}`;
const KUBE = `kube-${randomBytes(16).toString('hex')}`;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
before(async () => {
  echo = await startEchoServer();
  process.env.EVOLVE_TEST_ECHO_API_KEY = KEY;
  process.env.EVOLVE_TEST_ECHO_KUBE_TOKEN = KUBE;
});
after(async () => {
  delete process.env.EVOLVE_TEST_ECHO_API_KEY;
  delete process.env.EVOLVE_TEST_ECHO_KUBE_TOKEN;
  await echo?.close();
});

/** What Temporal records of a failed activity: every message and stack of the failure's cause chain. */
function recorded(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) parts.push(e.message, e.stack ?? '');
  if (err instanceof ApplicationFailure) parts.push(JSON.stringify(err.details ?? null));
  return parts.join('\n');
}

/** Runs `call` as an activity body (the boundary every activity shares) and returns its failure. */
async function failureOf(call: () => Promise<unknown>): Promise<unknown> {
  const activity = failFastOnBadInput(call);
  return activity().then(
    () => assert.fail('the call was expected to fail'),
    (err: unknown) => err,
  );
}

const endpoint = (baseUrl: string) =>
  EndpointSchema.parse({
    baseUrl,
    apiKeyEnv: 'EVOLVE_TEST_ECHO_API_KEY',
    maxAttempts: 2,
    // A 500 is an outage, waited out for this long (2 s) before the failure this test reads.
    outageBudgetHours: 2 / 3600,
  });
const chat = (status: number) =>
  openAIChat(endpoint(`${echo.url(status)}/v1`))({
    model: 'm',
    messages: [{ role: 'user', content: 'hi' }],
    temperature: 0,
    maxTokens: 4,
    seed: 0,
  });

// Every client that sends a credential. (Ray's Jobs API client sends none: the dashboard has no auth.)
const clients: [string, () => Promise<unknown>][] = [
  ['policy/judge inference, 401', () => chat(401)],
  ['policy/judge inference, 500 (retried, then given up)', () => chat(500)],
  ...[401, 500].map((status): [string, () => Promise<unknown>] => [
    `reward model, ${status}`,
    () =>
      rewardModelJudge(
        RewardModelSchema.parse({
          api: 'vllm-pooling',
          endpoint: {
            baseUrl: echo.url(status),
            apiKeyEnv: 'EVOLVE_TEST_ECHO_API_KEY',
            outageBudgetHours: 2 / 3600,
          },
        }),
      ).judge({ prompt: 'p', response: 'r' } as never, new AbortController().signal),
  ]),
  ...[401, 500].map((status): [string, () => Promise<unknown>] => [
    `vLLM serve (LoRA load), ${status}`,
    () => loadAdapter(vllmReplica(`${echo.url(status)}/v1`, endpoint(echo.url(status))), 'a', '/ckpt'),
  ]),
  ...[401, 500].map((status): [string, () => Promise<unknown>] => [
    `Kubernetes API, ${status}`,
    () =>
      kubernetesBackend(
        trainer({
          backend: 'kubernetes',
          apiServer: echo.url(status),
          tokenEnv: 'EVOLVE_TEST_ECHO_KUBE_TOKEN',
          image: 'x',
        }) as KubernetesTrainer,
      ).find({ jobKey: 'k' } as never),
  ]),
  [
    'restart hook output',
    () =>
      runHook(
        [
          'sh',
          '-c',
          // It does not see the worker's keys (child-env.test.ts), but it may know one from elsewhere.
          `echo "key is ${KEY}"; echo "token ${KUBE}" >&2; exit 3`,
        ],
        30_000,
        new AbortController().signal,
      ),
  ],
];

for (const [name, call] of clients) {
  test(`${name}: the failure an activity raises holds no key, though the server quoted it`, async () => {
    const unguarded = recorded(await call().catch((err: unknown) => err));
    assert.ok(
      unguarded.includes(KEY) || unguarded.includes(KUBE),
      `the raw error quotes a key (so this test can fail): ${unguarded.slice(0, 300)}`,
    );
    const text = recorded(await failureOf(call));
    assert.ok(
      !holdsKey(text, KEY) && !holdsKey(text, KUBE),
      `a key, in some encoding, is in the failure: ${text.slice(0, 800)}`,
    );
    assert.match(text, /\[redacted\]/);
  });
}

test('a key echoed in any common encoding is redacted: base64, URL-encoded, line-split, bearer, api-key headers', () => {
  const env = { EVOLVE_TEST_ECHO_API_KEY: KEY };
  const lines = quotedCredential(`Bearer ${KEY}`).split(/\n(?! )/);
  assert.equal(lines.length, 10);
  for (const line of lines) {
    assert.ok(holdsKey(line, KEY), `the probe holds the key (so this test can fail): ${line}`);
    const out = redact(line, env);
    assert.ok(!holdsKey(out, KEY), `not redacted: ${out}`);
    assert.match(out, /\[redacted\]/);
  }
  // The header rules need no known secret: a key of a server the worker does not know is redacted too.
  assert.equal(
    redact('X-Api-Key: abc12345\napi-key=def67890\nauthorization: token ghi12345\nBEARER jkl12345', {}),
    'X-Api-Key: [redacted]\napi-key=[redacted]\nauthorization: token [redacted]\nBEARER [redacted]',
  );
  assert.equal(
    redact('basic arithmetic, apiKeyEnv: X_API_KEY', {}),
    'basic arithmetic, apiKeyEnv: X_API_KEY',
  );
});

test("heartbeat details pass the redaction: a server's 500 page quoting the key is in no heartbeat", async () => {
  const beats: unknown[] = [];
  const env = new MockActivityEnvironment();
  env.on('heartbeat', (details: unknown) => beats.push(details));
  await env
    .run(() =>
      withHeartbeat(
        () => ({ shard: 1, note: quotedCredential(`Bearer ${KEY}`) }),
        () => chat(500),
        50,
      ),
    )
    .catch(() => undefined);
  const texts = beats.map((b) => JSON.stringify(b));
  assert.ok(
    texts.some((t) => t.includes('waiting for') && t.includes('answered 500')),
    `the outage is in the heartbeats: ${texts.at(-1)}`,
  );
  for (const text of texts) assert.ok(!holdsKey(text, KEY), `a key is in a heartbeat: ${text.slice(0, 500)}`);
});

test('URL credentials, credential query parameters and bearer tokens are redacted from messages', () => {
  assert.equal(
    redact('GET https://bob:hunter22@h.example/v1?api_key=abc123&x=1 said Bearer eyJhbGciOi.x-y', {}),
    'GET https://[redacted]@h.example/v1?api_key=[redacted]&x=1 said Bearer [redacted]',
  );
  // Artifact rows lose only secret values: model text about "Bearer" tokens stays as it was.
  const scrub = secretScrubber({ X_API_KEY: 'sk-0123456789', OTHER: 'sk-0123456789-not-a-secret-name' });
  assert.equal(scrub('Bearer sk-0123456789 and Bearer words'), 'Bearer [redacted] and Bearer words');
});

test("an activity's result loses only the secrets: its other text stays as it was", async () => {
  const probe = `Basic arithmetic; ${quotedCredential(`Bearer ${KEY}`)}`;
  const served = failFastOnBadInput(async () => ({ model: 'm', probe, counts: [1, 2] }));
  const result = (await served()) as { model: string; probe: string; counts: number[] };
  assert.ok(!holdsKey(result.probe, KEY), 'a key, in some encoding, is in the result');
  assert.ok(result.probe.startsWith('Basic arithmetic; you sent Authorization: Bearer [redacted]'));
  assert.deepEqual({ ...result, probe: '' }, { model: 'm', probe: '', counts: [1, 2] });
  assert.deepEqual(scrubValue({ [KEY]: [KEY] }), { '[redacted]': ['[redacted]'] });
});

test("the worker's secret variables are redacted; its Temporal address and namespace are not", () => {
  const env = {
    TEMPORAL_ADDRESS: 'temporal.internal:7233',
    TEMPORAL_NAMESPACE: 'evolve-production',
    TEMPORAL_API_KEY: 'tk-0123456789abcdef',
    TEMPORAL_TLS_CLIENT_KEY_DATA: '-----BEGIN PRIVATE KEY-----abc',
    EVOLVE_CODEC_TOKEN: 'codec-0123456789',
  };
  assert.equal(
    redact(
      `on temporal.internal:7233 (namespace evolve-production) with ${Object.values(env).slice(2).join(' ')}`,
      env,
    ),
    'on temporal.internal:7233 (namespace evolve-production) with [redacted] [redacted] [redacted]',
  );
});
