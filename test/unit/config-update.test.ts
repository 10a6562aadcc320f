import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setPath } from '../../client/config-file.js';
import { applyConfigUpdate, ConfigError } from '../../core/config.js';
import { demoConfig } from '../support/config.js';

test('a config update merges objects, replaces lists and reports what changed', () => {
  const config = demoConfig({ iterations: 3 });
  const { config: next, changed } = applyConfigUpdate(
    config,
    { sampling: { temperature: 0.5 }, trainer: { beta: 0.2 } },
    1,
  );
  assert.equal(next.sampling.temperature, 0.5);
  assert.equal(next.sampling.samples, config.sampling.samples, 'sibling keys are kept');
  assert.equal(next.trainer.beta, 0.2);
  assert.deepEqual(changed, ['sampling.temperature', 'trainer.beta']);
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

test('an update changes only the allow-listed keys: what runs, with which arguments, where files and requests go is fixed', () => {
  const config = demoConfig({ iterations: 3 });
  const refused = (patch: unknown, path: string) =>
    assert.throws(
      () => applyConfigUpdate(config, patch, 1),
      (err: unknown) =>
        err instanceof ConfigError && err.message.includes(`  ${path}: fixed for the life of a run`),
      path,
    );
  refused({ trainer: { python: '/tmp/evil' } }, 'trainer.python');
  refused({ trainer: { extraArgs: ['--output_dir=/etc'] } }, 'trainer.extraArgs');
  refused(
    { trainer: { launcher: { kind: 'accelerate', numProcesses: 2, config: '/tmp/any.yaml' } } },
    'trainer.launcher.kind',
  );
  refused({ trainer: { device: 'cpu' === config.trainer.device ? 'cuda' : 'cpu' } }, 'trainer.device');
  refused({ prompts: [config.prompts[0], { kind: 'file', path: '/etc/passwd' }] }, 'prompts.1.path');
  refused({ evaluation: { prompts: { seed: 5 } } }, 'evaluation.prompts.seed');
  refused({ judge: { cacheDir: '/tmp/elsewhere' } }, 'judge.cacheDir');
  refused({ reuseFrom: ['other-run'] }, 'reuseFrom');
  refused({ policy: { serve: { kind: 'restart', command: ['sh', '-c', 'id'] } } }, 'policy.serve');
  refused({ policy: { endpoint: { baseUrl: 'http://127.0.0.1:9/v1' } } }, 'policy.endpoint.baseUrl');
  refused({ policy: { endpoint: { extraBody: { user: 'x' } } } }, 'policy.endpoint.extraBody');
  refused({ judge: { llm: { endpoint: { apiKeyEnv: 'OTHER_API_KEY' } } } }, 'judge.llm.endpoint.apiKeyEnv');
  refused({ artifactRoot: '/tmp/x' }, 'artifactRoot');
  // Budgets, counts, sampling, judging and evaluation choices, hyperparameters and endpoint tuning may change.
  const { changed } = applyConfigUpdate(
    config,
    {
      iterations: 5,
      shardSize: 8,
      sampling: { samples: 3, temperature: 0.9 },
      pairing: { margin: 1 },
      judge: { llm: { rubric: 'be strict', endpoint: { maxConcurrency: 2 } } },
      trainer: { learningRate: 1e-6, epochs: 2 },
      evaluation: { samples: 2, temperature: 0.5 },
      policy: { endpoint: { requestTimeoutMs: 60_000 } },
    },
    1,
  );
  assert.deepEqual(changed.sort(), [
    'evaluation.samples',
    'evaluation.temperature',
    'iterations',
    'judge.llm.endpoint.maxConcurrency',
    'judge.llm.rubric',
    'pairing.margin',
    'policy.endpoint.requestTimeoutMs',
    'sampling.samples',
    'sampling.temperature',
    'shardSize',
    'trainer.epochs',
    'trainer.learningRate',
  ]);
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
