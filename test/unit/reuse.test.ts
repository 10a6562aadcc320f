import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeJsonlWithManifest } from '../../storage/jsonl-writer.js';
import { reusableOutput, stepKey, without } from '../../storage/reuse.js';
import type { StepScope } from '../../core/steps.js';

const dir = () => mkdtempSync(join(tmpdir(), 'evolve-reuse-unit-'));

test('a step key depends on the step, the input hashes and the slice, not on key order', () => {
  const key = stepKey('pair', ['a', 'b'], { margin: 1, rule: 'max-min' });
  assert.equal(key, stepKey('pair', ['a', 'b'], { rule: 'max-min', margin: 1 }));
  assert.notEqual(key, stepKey('judge', ['a', 'b'], { margin: 1, rule: 'max-min' }));
  assert.notEqual(key, stepKey('pair', ['a', 'c'], { margin: 1, rule: 'max-min' }));
  assert.notEqual(key, stepKey('pair', ['a', 'b'], { margin: 2, rule: 'max-min' }));
  assert.deepEqual(without({ model: 'm', endpoint: 'http://x', rubric: 'r' }, 'endpoint'), {
    model: 'm',
    rubric: 'r',
  });
});

test('an output is computed once, found again in its own index or another run, and redone when altered', async () => {
  const root = dir();
  const scope = (run: string, reuseFrom: string[] = []): StepScope => ({
    runId: run,
    iteration: 1,
    dir: join(root, run),
    indexes: [run, ...reuseFrom].map((r) => join(root, r, 'cas')),
  });
  let computed = 0;
  const compute = (s: StepScope) => () => {
    computed++;
    return writeJsonlWithManifest(join(s.dir, 'pairs.jsonl'), 'pair', [{ n: computed }], {
      step: 'pair',
      runId: s.runId,
      iteration: 1,
    });
  };
  const key = stepKey('pair', ['x'], {});

  const made = await reusableOutput(scope('a'), key, compute(scope('a')));
  assert.equal(made.reused, undefined);
  const again = await reusableOutput(scope('a'), key, compute(scope('a')));
  assert.equal(computed, 1, 'found in its own index');
  assert.deepEqual(again, { ...made, reused: true });

  assert.equal(computed, 1);
  const other = await reusableOutput(scope('b', ['a']), key, compute(scope('b')));
  assert.equal(computed, 1, "found in run a's index");
  assert.equal(other.uri, made.uri);
  assert.ok(existsSync(join(root, 'b', 'cas', `${key}.json`)), "recorded in run b's index too");
  assert.equal((await reusableOutput(scope('b'), key, compute(scope('b')))).reused, true);

  writeFileSync(made.uri, '{"n": "edited by hand"}\n');
  const redone = await reusableOutput(scope('a'), key, compute(scope('a')));
  assert.equal(computed, 2, 'an altered file is not reused');
  assert.equal(redone.reused, undefined);
});
