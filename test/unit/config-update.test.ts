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
});
