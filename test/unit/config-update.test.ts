import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setPath } from '../../client/config-file.js';
import { applyConfigUpdate, ConfigError } from '../../core/config.js';
import { demoConfig } from '../support/config.js';

test('a config update merges objects, replaces lists and reports what changed', () => {
  const config = demoConfig({ iterations: 3 });
  const { config: next, changed } = applyConfigUpdate(
    config,
    { sampling: { temperature: 0.5 }, trainer: { extraArgs: ['--seed', '1'] } },
    1,
  );
  assert.equal(next.sampling.temperature, 0.5);
  assert.equal(next.sampling.samples, config.sampling.samples, 'sibling keys are kept');
  assert.deepEqual(next.trainer.extraArgs, ['--seed', '1']);
  assert.deepEqual(changed, ['sampling.temperature', 'trainer.extraArgs']);
  assert.deepEqual(
    applyConfigUpdate(config, { sampling: { temperature: config.sampling.temperature } }, 1).changed,
    [],
  );
});

test('a config update that breaks the schema, a fixed key or the started iterations is refused', () => {
  const config = demoConfig({ iterations: 3 });
  const refused = (patch: unknown, started: number, message: RegExp) =>
    assert.throws(
      () => applyConfigUpdate(config, patch, started),
      (err: unknown) => err instanceof ConfigError && message.test(err.message),
    );
  refused({ pairing: { rule: 'best' } }, 1, /^config update is invalid:\n {2}pairing\.rule: Invalid option/);
  refused({ policy: { baseModel: 'other' } }, 1, /policy\.baseModel: fixed for the life of a run/);
  refused({ iterations: 1 }, 2, /iterations: must be at least 2 \(iterations already started\)/);
  refused(['x'], 1, /expected an object of keys to change/);
});

test('an update may not change executables, commands, endpoints or key references', () => {
  const config = demoConfig({ iterations: 3 });
  const refused = (patch: unknown, path: string) =>
    assert.throws(
      () => applyConfigUpdate(config, patch, 1),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message.includes(`  ${path}: executables, commands, endpoints and key references`),
      path,
    );
  refused({ trainer: { python: '/tmp/evil' } }, 'trainer.python');
  refused({ policy: { serve: { kind: 'restart', command: ['sh', '-c', 'id'] } } }, 'policy.serve.command');
  refused({ policy: { endpoint: { baseUrl: 'http://127.0.0.1:9/v1' } } }, 'policy.endpoint.baseUrl');
  refused({ judge: { llm: { endpoint: { apiKeyEnv: 'OTHER_API_KEY' } } } }, 'judge.llm.endpoint.apiKeyEnv');
  // Tuning an endpoint stays allowed.
  const { changed } = applyConfigUpdate(config, { policy: { endpoint: { maxConcurrency: 2 } } }, 1);
  assert.deepEqual(changed, ['policy.endpoint.maxConcurrency']);
});

test('--set key.path=value builds a patch with typed values', () => {
  const patch: Record<string, unknown> = {};
  setPath(patch, 'sampling.temperature=0.6');
  setPath(patch, 'sampling.seed=7');
  setPath(patch, 'pairing.refinementPairs=false');
  setPath(patch, 'judge.llm.model=qwen');
  assert.deepEqual(patch, {
    sampling: { temperature: 0.6, seed: 7 },
    pairing: { refinementPairs: false },
    judge: { llm: { model: 'qwen' } },
  });
  assert.throws(() => setPath(patch, 'novalue'), /--set novalue: expected key\.path=value/);
  for (const bad of ['__proto__.x=1', 'a.constructor.prototype.x=1', 'a..b=1'])
    assert.throws(() => setPath(patch, bad), /--set .*: /);
  assert.equal(({} as Record<string, unknown>).x, undefined, 'no prototype was touched');
});
