import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runHook } from '../../activities/serve-restart.js';
import { checkTrainer } from '../../client/doctor.js';
import { TrainerSchema } from '../../core/config.js';
import { childEnv } from '../../core/secrets.js';
import { stackSettings, startService, type Service } from '../../deploy/stack.js';
import { localBackend } from '../../trainers/local.js';
import { until } from '../support/until.js';

// Every program the worker or the CLI starts on behalf of a config is one that dumps its environment.
// What a program may not see: the worker's credentials, and any other credential-looking variable.
const SECRETS = {
  EVOLVE_CODEC_KEY: 'codec-key-0123456789',
  EVOLVE_CODEC_TOKEN: 'codec-token-0123456789',
  TEMPORAL_API_KEY: 'temporal-key-0123456789',
  TEMPORAL_TLS_CLIENT_KEY_DATA: '-----BEGIN PRIVATE KEY-----',
  EVOLVE_TEST_POLICY_API_KEY: 'sk-policy-0123456789',
  AWS_SECRET_ACCESS_KEY: 'aws-0123456789',
  HF_TOKEN: 'hf_0123456789',
  EVOLVE_UNRELATED_SETTING: 'not for children',
};
const dir = mkdtempSync(join(tmpdir(), 'evolve-child-env-'));
const saved = { ...process.env };
before(() => {
  Object.assign(process.env, SECRETS, {
    HF_HOME: '/hf-home',
    OMP_NUM_THREADS: '1',
    EVOLVE_CHILD_ENV: 'EVOLVE_TEST_PASSED,EVOLVE_CODEC_KEY',
    EVOLVE_TEST_PASSED: 'listed by the operator',
  });
});
after(() => {
  for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
});

/** A program that writes its environment to `<dir>/<name>.env` and prints what doctor's probe expects. */
function dumper(
  name: string,
  at = join(dir, `${name}.sh`),
): { program: string; dump: () => Record<string, string> } {
  const out = join(dir, `${name}.env`);
  writeFileSync(at, `#!/bin/sh\nenv > '${out}'\necho 0.0 False\n`);
  chmodSync(at, 0o755);
  return {
    program: at,
    dump: () =>
      Object.fromEntries(
        readFileSync(out, 'utf8')
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      ),
  };
}

function assertAllowListed(env: Record<string, string>, spawner: string): void {
  for (const name of Object.keys(SECRETS)) assert.ok(!(name in env), `${spawner}: the child sees ${name}`);
  assert.ok(env.PATH, `${spawner}: the child has a PATH`);
  assert.equal(env.HF_HOME, '/hf-home', `${spawner}: Hugging Face settings pass`);
  assert.equal(env.EVOLVE_TEST_PASSED, 'listed by the operator', `${spawner}: EVOLVE_CHILD_ENV's names pass`);
}

test('childEnv passes the allow-list and the listed names, never a worker credential or a credential-looking name', () => {
  assert.deepEqual(
    childEnv(
      { PATH: '/bin', LC_ALL: 'C', HF_HOME: '/h', GITHUB_TOKEN: 'g', FOO: '1', ...SECRETS },
      { X: '1' },
    ),
    { PATH: '/bin', LC_ALL: 'C', HF_HOME: '/h', X: '1' },
  );
  assert.deepEqual(
    childEnv({ HF_TOKEN: 't', TEMPORAL_API_KEY: 'k', EVOLVE_CHILD_ENV: 'HF_TOKEN,TEMPORAL_API_KEY' }),
    {
      HF_TOKEN: 't',
    },
  );
});

test("doctor's probe of trainer.python runs it with the allow-listed environment", async () => {
  const { program, dump } = dumper('doctor');
  const health = await checkTrainer(
    TrainerSchema.parse({ backend: 'local', python: program, device: 'cpu' }),
  );
  assert.equal(health.ok, true, health.detail);
  assertAllowListed(dump(), 'doctor');
});

test('the restart hook runs with the allow-listed environment', async () => {
  const { program, dump } = dumper('hook');
  await runHook([program], 30_000, new AbortController().signal);
  assertAllowListed(dump(), 'restart hook');
});

test('the local trainer (and the launcher it starts as its command) runs with the allow-listed environment', async () => {
  const { program, dump } = dumper('trainer');
  const jobDir = join(dir, 'job');
  mkdirSync(jobDir);
  await localBackend(0).submit({ jobKey: 'env', jobDir, command: [program], env: { PYTHONUNBUFFERED: '1' } });
  await until('the trainer to exit', () => existsSync(join(jobDir, 'exit_code')), 30_000);
  const env = dump();
  assertAllowListed(env, 'trainer');
  assert.equal(env.PYTHONUNBUFFERED, '1', "the job's own variables are added");
});

for (const [service, program] of [
  ['model', 'transformers'],
  ['temporal', 'temporal'],
] as [Service, string][]) {
  test(`the stack's ${service} server runs with the allow-listed environment`, async () => {
    const home = join(dir, `home-${service}`);
    mkdirSync(join(home, 'venv', 'bin'), { recursive: true });
    const { dump } = dumper(service, join(home, 'venv', 'bin', program));
    startService(stackSettings({ ...process.env, EVOLVE_HOME: home, EVOLVE_STATE_DIR: home }), service);
    await until(
      `the ${service} server's dump`,
      () =>
        existsSync(join(dir, `${service}.env`)) &&
        readFileSync(join(dir, `${service}.env`), 'utf8').includes('PATH='),
      30_000,
    );
    assertAllowListed(dump(), service);
  });
}
