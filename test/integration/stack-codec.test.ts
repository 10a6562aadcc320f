import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  checkCodec,
  readPid,
  stackSettings,
  stackStatus,
  startService,
  stopService,
} from '../../deploy/stack.js';
import { freePort } from '../support/ports.js';
import { reapOnExit } from '../support/processes.js';
import { until } from '../support/until.js';

// `evolve up` with EVOLVE_CODEC_KEY set also runs `evolve codec-server`, as its own service process,
// and points the UI at it; without the key, or with an external EVOLVE_CODEC_ENDPOINT, it does not.
test('the stack runs the codec server as a service when payloads are encrypted', async (t) => {
  reapOnExit();
  const stateDir = mkdtempSync(join(tmpdir(), 'evolve-stack-codec-'));
  const key = randomBytes(32).toString('base64');
  const port = await freePort();
  const env = { EVOLVE_CODEC_KEY: key, EVOLVE_CODEC_PORT: String(port), EVOLVE_TEMPORAL_PORT: '1' };
  const settings = { ...stackSettings(env), stateDir };
  t.after(async () => {
    await stopService(settings, 'codec');
    rmSync(stateDir, { recursive: true, force: true });
  });

  assert.equal(settings.codecEndpoint, `http://127.0.0.1:${port}`, 'the UI decodes through it');
  assert.deepEqual(Object.keys(await stackStatus(settings)), ['codec', 'temporal', 'model', 'worker']);
  const external = stackSettings({ ...env, EVOLVE_CODEC_ENDPOINT: 'https://codec.example' });
  assert.equal(external.runsCodec, false);
  assert.equal(external.codecEndpoint, 'https://codec.example');
  assert.deepEqual(Object.keys(await stackStatus(stackSettings({ EVOLVE_TEMPORAL_PORT: '1' }))), [
    'temporal',
    'model',
    'worker',
  ]);

  // The key reaches the service through the environment only.
  process.env.EVOLVE_CODEC_KEY = key;
  t.after(() => void delete process.env.EVOLVE_CODEC_KEY);
  startService(settings, 'codec');
  await until('the codec server', async () => (await checkCodec(settings)).ok, 60_000);

  const post = async (op: string, payloads: unknown[]) => {
    const res = await fetch(`${settings.codecEndpoint}/${op}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payloads }),
    });
    assert.equal(res.status, 200);
    return ((await res.json()) as { payloads: { metadata: Record<string, string>; data: string }[] })
      .payloads;
  };
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const plain = { metadata: { encoding: b64('json/plain') }, data: b64('{"runId":"my-run"}') };
  const [sealed] = await post('encode', [plain]);
  assert.equal(sealed!.metadata.encoding, b64('binary/encrypted'));
  assert.ok(!Buffer.from(sealed!.data, 'base64').toString().includes('my-run'), 'encrypted');
  assert.deepEqual(await post('decode', [sealed]), [plain]);

  const pid = readPid(settings, 'codec');
  assert.ok(pid);
  assert.equal(await stopService(settings, 'codec'), true);
  assert.equal((await checkCodec(settings)).ok, false, 'stopped');
});
