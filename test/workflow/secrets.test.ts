import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client } from '@temporalio/client';
import { createActivities } from '../../activities/index.js';
import { EncryptionCodec } from '../../codec/encryption.js';
import { demoConfig, keyedConfig } from '../support/config.js';
import { startFakeOpenAI, type FakeServer } from '../support/fake-openai.js';
import { realActivitiesButTraining, recordingActivities } from '../support/recording-activities.js';
import { useTimeSkippingServer } from '../support/time-skipping.js';
import { holdsKey, startEchoServer } from '../support/echo-server.js';
import { installRuntime } from '../../workers/runtime.js';

// Every worker log line of this process, as the worker writes them (installed before the test server's quiet one).
const logLines: string[] = [];
installRuntime({ format: 'json', level: 'DEBUG' }, (line) => logLines.push(line));
const server = useTimeSkippingServer();
let fake: FakeServer;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
before(async () => {
  fake = await startFakeOpenAI();
  echo = await startEchoServer();
});
after(async () => {
  await fake?.close();
  await echo?.close();
});

/** Every string in a history, payload bytes included, as UTF-8 and as base64. */
function textsOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (value instanceof Uint8Array) {
    out.push(Buffer.from(value).toString('utf8'), Buffer.from(value).toString('base64'));
  } else if (value && typeof value === 'object') for (const v of Object.values(value)) textsOf(v, out);
  return out;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

test('API keys from apiKeyEnv reach the servers but never a run history or an artifact', async () => {
  const keys = {
    EVOLVE_TEST_POLICY_API_KEY: `sk-policy-${randomBytes(12).toString('hex')}`,
    EVOLVE_TEST_JUDGE_API_KEY: `sk-judge-${randomBytes(12).toString('hex')}`,
  };
  Object.assign(process.env, keys);
  const root = mkdtempSync(join(tmpdir(), 'evolve-secrets-'));
  // Every step that holds a key runs for real.
  const worker = await server.worker('secrets', realActivitiesButTraining());
  const histories = await worker.runUntil(async () => {
    const handle = await server.env.client.workflow.start('evolveRun', {
      taskQueue: 'secrets',
      workflowId: 'secrets',
      args: [keyedConfig('secrets', root, fake.baseUrl)],
    });
    await handle.result();
    return Promise.all(
      ['secrets', 'secrets/iter-1'].map((id) => server.env.client.workflow.getHandle(id).fetchHistory()),
    );
  });
  try {
    assert.deepEqual(
      [...fake.requests.authorizations].sort(),
      Object.values(keys)
        .map((k) => `Bearer ${k}`)
        .sort(),
      'both keys were sent, so a leak would have had the chance to happen',
    );
    const historyText = histories.flatMap((h) => textsOf(h));
    const files = filesUnder(root);
    assert.ok(
      files.some((f) => f.endsWith('.jsonl')),
      'the run wrote artifacts',
    );
    for (const key of Object.values(keys)) {
      assert.ok(!historyText.some((t) => t.includes(key)), `a key is in a run history`);
      for (const file of files) assert.ok(!readFileSync(file, 'utf8').includes(key), `a key is in ${file}`);
    }
    assert.ok(
      historyText.some((t) => t.includes('EVOLVE_TEST_POLICY_API_KEY')),
      'only the variable name is',
    );
  } finally {
    for (const name of Object.keys(keys)) delete process.env[name];
  }
});

test('with a codec key the server stores only ciphertext, and a client with the key reads the result', async () => {
  const codec = new EncryptionCodec(randomBytes(32));
  const worker = await server.worker('sealed', recordingActivities([]), {
    dataConverter: { payloadCodecs: [codec] },
  });
  const client = new Client({
    connection: server.env.connection,
    dataConverter: { payloadCodecs: [codec] },
  });
  const config = demoConfig({ runId: 'sealed-run', iterations: 1, artifactRoot: '/sealed-root' });
  const { result, history } = await worker.runUntil(async () => {
    const handle = await client.workflow.start('evolveRun', {
      taskQueue: 'sealed',
      workflowId: 'sealed',
      args: [config],
    });
    return { result: await handle.result(), history: await handle.fetchHistory() };
  });
  assert.equal(result.runId, 'sealed-run');
  const payloads = textsOf(history);
  assert.ok(payloads.some((t) => t.includes('binary/encrypted')));
  assert.ok(!payloads.some((t) => t.includes('/sealed-root')), 'no config or result in the clear');
  await assert.rejects(
    server.env.client.workflow.getHandle('sealed').result(),
    'a client without the key cannot read the result',
  );
});

test('a server quoting the key back in a 401 page, in any encoding, puts it in no history, no worker log line and no artifact', async () => {
  const key = `sk-echo-${randomBytes(12).toString('hex')}`;
  process.env.EVOLVE_TEST_POLICY_API_KEY = key;
  process.env.EVOLVE_TEST_JUDGE_API_KEY = key;
  const root = mkdtempSync(join(tmpdir(), 'evolve-secrets-echo-'));
  const worker = await server.worker('echo', createActivities());
  const firstLine = logLines.length;
  try {
    const { failure, histories } = await worker.runUntil(async () => {
      const handle = await server.env.client.workflow.start('evolveRun', {
        taskQueue: 'echo',
        workflowId: 'echo',
        args: [keyedConfig('echo', root, `${echo.url(401)}/v1`)],
      });
      const failure = await handle.result().then(
        () => assert.fail('the run was expected to fail on the 401'),
        (err: unknown) => err as Error,
      );
      const histories = await Promise.all(
        ['echo', 'echo/iter-1'].map((id) => server.env.client.workflow.getHandle(id).fetchHistory()),
      );
      return { failure, histories };
    });
    const historyText = histories.flatMap((h) => textsOf(h));
    assert.ok(
      historyText.some((t) => t.includes('answered 401') && t.includes('Authorization: Bearer [redacted]')),
      'the server reply is in the history, its key redacted',
    );
    assert.ok(!historyText.some((t) => holdsKey(t, key)), 'a key, in some encoding, is in a run history');
    assert.ok(
      !holdsKey(JSON.stringify(failure), key) &&
        !holdsKey(String((failure.cause as Error | undefined)?.message), key),
    );
    const lines = logLines.slice(firstLine);
    assert.ok(
      lines.some((l) => l.includes('[redacted]')),
      'the worker logged the failure',
    );
    assert.ok(!lines.some((l) => holdsKey(l, key)), 'a key, in some encoding, is in a worker log line');
    for (const file of filesUnder(root))
      assert.ok(!holdsKey(readFileSync(file, 'utf8'), key), `a key, in some encoding, is in ${file}`);
  } finally {
    delete process.env.EVOLVE_TEST_POLICY_API_KEY;
    delete process.env.EVOLVE_TEST_JUDGE_API_KEY;
  }
});
