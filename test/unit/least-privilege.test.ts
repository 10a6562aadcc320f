import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { capRetryAfter, MAX_RETRY_AFTER_MS, retryAfterMs } from '../../activities/inference.js';
import { runHook } from '../../activities/serve-restart.js';
import { childEnv } from '../../core/secrets.js';
import { workerUmask } from '../../workers/runtime.js';

test('child processes of the worker get no worker credential', async () => {
  const env = {
    PATH: '/bin',
    EVOLVE_CODEC_KEY: 'k',
    TEMPORAL_API_KEY: 't',
    TEMPORAL_TLS_CLIENT_KEY_DATA: 'p',
    HF_HOME: '/h',
  };
  assert.deepEqual(childEnv(env, { X: '1' }), { PATH: '/bin', HF_HOME: '/h', X: '1' });
  process.env.EVOLVE_CODEC_KEY = 'codec-key-in-the-worker';
  try {
    // The restart hook fails (exit 3) only if it can see the codec key.
    await runHook(
      ['sh', '-c', 'test -z "$EVOLVE_CODEC_KEY" || exit 3'],
      30_000,
      new AbortController().signal,
    );
  } finally {
    delete process.env.EVOLVE_CODEC_KEY;
  }
});

test('a Retry-After is capped, so a huge one neither parks a replica for good nor overflows a timer', () => {
  const huge = new Headers({ 'retry-after': '99999999999' });
  assert.equal(capRetryAfter(retryAfterMs(huge)), MAX_RETRY_AFTER_MS);
  assert.equal(capRetryAfter(retryAfterMs(new Headers({ 'retry-after': '2' }))), 2000);
  assert.equal(capRetryAfter(null), null);
});

test('the worker creates files 0600 and directories 0700 unless EVOLVE_UMASK widens it', () => {
  assert.equal(workerUmask({}), 0o077);
  assert.equal(workerUmask({ EVOLVE_UMASK: '022' }), 0o022);
  assert.throws(() => workerUmask({ EVOLVE_UMASK: 'rw' }), /EVOLVE_UMASK=rw: expected an octal mask/);
  const mode = execFileSync(
    process.execPath,
    [
      '-e',
      `process.umask(${workerUmask({})}); const f=require('fs'); const d=require('os').tmpdir()+'/evolve-umask-'+process.pid; f.mkdirSync(d); f.writeFileSync(d+'/a','x'); console.log((f.statSync(d).mode&0o777).toString(8), (f.statSync(d+'/a').mode&0o777).toString(8)); f.rmSync(d,{recursive:true})`,
    ],
    { encoding: 'utf8' },
  ).trim();
  assert.equal(mode, '700 600');
});
