import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EncryptionCodec } from '../../codec/encryption.js';
import { toJson } from '../../codec/payload-json.js';
import {
  checkCodec,
  codecLoginUrl,
  codecToken,
  readPid,
  stackSettings,
  stackStatus,
  startService,
  stopService,
  uiUrl,
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

  const decode = (payloads: unknown[], headers: Record<string, string>) =>
    fetch(`${settings.codecEndpoint}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ payloads }),
    });
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const plain = { metadata: { encoding: b64('json/plain') }, data: b64('{"runId":"my-run"}') };
  const [sealed] = await new EncryptionCodec(Buffer.from(key, 'base64')).encode([
    { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"runId":"my-run"}') },
  ]);
  const sealedJson = toJson(sealed!);
  assert.equal((await decode([sealedJson], {})).status, 401, 'no token, no plaintext');
  // The stack generated the token and keeps it beside its pid files, readable by its owner only.
  const tokenFile = join(stateDir, 'run', 'codec.token');
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
  const authorized = await decode([sealedJson], { authorization: `Bearer ${codecToken(settings)}` });
  assert.equal(authorized.status, 200);
  assert.deepEqual(((await authorized.json()) as { payloads: unknown[] }).payloads, [plain]);
  // The UI's way in: the login link sets the cookie its decode requests carry.
  const login = await fetch(codecLoginUrl(settings));
  assert.equal(login.status, 200);
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  assert.equal((await decode([sealedJson], { cookie, origin: uiUrl(settings) })).status, 200);

  const pid = readPid(settings, 'codec');
  assert.ok(pid);
  assert.equal(await stopService(settings, 'codec'), true);
  assert.equal((await checkCodec(settings)).ok, false, 'stopped');
});
