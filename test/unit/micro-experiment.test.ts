import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  armConfig,
  armResults,
  markdownTable,
  parseExperimentArgs,
  readExperimentResults,
  renderExperiment,
  type ExperimentOptions,
} from '../../client/experiment.js';
import { ARMS } from '../../core/experiment-results.js';
import type { RunResult } from '../../core/steps.js';
import { trainingStrategy } from '../../core/strategies.js';

const servers = { policy: 'http://127.0.0.1:18123/v1', evaluation: 'http://127.0.0.1:18124/v1' };
const options: ExperimentOptions = { smoke: false, split: 'test', stamp: 's1', outDir: '/unused' };

/** Leaf key paths whose values differ. */
function diff(a: unknown, b: unknown, path = ''): string[] {
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k),
    );
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
}

test('the two arms differ only where the method does, and collect as many responses per prompt', () => {
  for (const smoke of [false, true]) {
    const [evolve, dpo] = ARMS.map((arm) => armConfig(arm, { ...options, smoke }, servers));
    assert.deepEqual(diff(evolve, dpo).sort(), [
      'pairing.refinementPairs',
      'runId',
      'sampling.chainDepth',
      'sampling.samples',
      'sampling.strategy',
    ]);
    assert.equal(evolve!.sampling.strategy, 'chain');
    assert.equal(evolve!.pairing.refinementPairs, true);
    assert.equal(dpo!.sampling.strategy, 'parallel');
    assert.equal(dpo!.pairing.refinementPairs, false);
    const responses = (s: ReturnType<typeof trainingStrategy>) => s.samples * s.depth;
    assert.equal(responses(trainingStrategy(evolve!.sampling)), responses(trainingStrategy(dpo!.sampling)));
    assert.equal(evolve!.policy.endpoint.baseUrl, servers.policy);
    // A batching server keeps one temperature: the greedy evaluation has a server of its own.
    assert.equal(evolve!.evaluation.endpoint?.baseUrl, servers.evaluation);
  }
});

test('the full arms run iterations 0..3 on 300 held-out problems; smoke is 1 iteration on a handful', () => {
  const full = armConfig('evolve', options, servers);
  assert.equal(full.iterations, 3);
  assert.notEqual(full.evaluation.iterationZero, false);
  assert.equal(full.evaluation.refineRounds, 2, 'direct, refine@1 and refine@2');
  assert.ok(full.evaluation.prompts.kind === 'arithmetic' && full.evaluation.prompts.count >= 300);
  const smoke = armConfig('evolve', { ...options, smoke: true }, servers);
  assert.equal(smoke.iterations, 1);
  assert.ok(smoke.prompts.every((p) => p.kind === 'arithmetic' && p.count <= 5));
  assert.ok(smoke.evaluation.maxTokens! <= 16 && smoke.trainer.extraArgs.includes('--max_steps'));
  assert.equal(smoke.runId, 'micro-evolve-smoke-s1');
});

test('--split dev evaluates on the dev split, whose seed no test or training draw uses', () => {
  const test_ = armConfig('evolve', options, servers).evaluation.prompts;
  const dev = armConfig('evolve', { ...options, split: 'dev' }, servers);
  assert.equal(dev.runId, 'micro-evolve-dev-s1');
  assert.ok(dev.evaluation.prompts.kind === 'arithmetic' && test_.kind === 'arithmetic');
  assert.notEqual(dev.evaluation.prompts.seed, test_.seed);
  // Training draws seed + iteration for iterations 1..3.
  const trainingSeeds = dev.prompts.flatMap((p) =>
    p.kind === 'arithmetic' ? [1, 2, 3].map((t) => p.seed + t) : [],
  );
  assert.ok(!trainingSeeds.includes(dev.evaluation.prompts.seed));
  assert.ok(!trainingSeeds.includes(test_.seed));
});

test('arguments: micro is required, the split is checked, the stamp names the runs', () => {
  assert.throws(() => parseExperimentArgs([]), /micro or render\?/);
  assert.throws(
    () => parseExperimentArgs(['micro', '--split', 'train']),
    /--split train: expected test or dev/,
  );
  const parsed = parseExperimentArgs(['micro', '--smoke'], new Date('2026-11-30T01:02:03Z'));
  assert.equal(parsed.stamp, '20261130-010203');
  assert.equal(parsed.outDir, join('.evolve', 'experiments', 'micro-smoke-20261130-010203'));
});

test('results: Wilson intervals per metric, pairs and refinement wins from the pairs file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'micro-results-'));
  const pairsFile = join(dir, 'pairs.jsonl');
  const pair = (chosen: number, rejected: number, kind: 'direct' | 'refinement') => ({
    promptId: `p${chosen}${rejected}`,
    kind,
    prompt: [{ role: 'user', content: 'q' }],
    chosen: [{ role: 'assistant', content: 'a' }],
    rejected: [{ role: 'assistant', content: 'b' }],
    chosenId: `r/1/p/0/${chosen}`,
    rejectedId: `r/1/p/0/${rejected}`,
    margin: 1,
    weight: 1,
  });
  const rows = [pair(3, 1, 'direct'), pair(3, 1, 'refinement'), pair(1, 2, 'direct')];
  writeFileSync(pairsFile, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const evaluation = (accuracy: number[]) => ({ uri: '', prompts: 10, accuracy, wallMs: 1 });
  const step = (name: string, uri = '') => ({
    iteration: 1,
    step: name,
    rows: 3,
    wallMs: 1500,
    uri,
    reused: false,
  });
  const result: RunResult = {
    runId: 'r',
    configHash: 'h',
    finalModel: 'm',
    iterations: [
      { iteration: 0, checkpoint: 'm', evaluation: evaluation([0.2, 0.3, 0.3]), steps: [] },
      {
        iteration: 1,
        checkpoint: 'c',
        evaluation: evaluation([0.8, 0.9, 1]),
        steps: [step('pair', pairsFile), step('train'), step('train')],
      },
    ],
  };
  const arm = await armResults('evolve', result);
  assert.equal(arm.iterations[0]!.pairs, null);
  assert.deepEqual(
    arm.iterations[1]!.metrics.map((m) => [m.metric, m.correct]),
    [
      ['direct', 8],
      ['refine@1', 9],
      ['refine@2', 10],
    ],
  );
  assert.ok(Math.abs(arm.iterations[1]!.metrics[0]!.ci95.low - 0.4902) < 1e-4);
  assert.equal(arm.iterations[1]!.pairs, 2, 'direct rows only');
  assert.equal(arm.iterations[1]!.refinementWins, 1);
  assert.equal(arm.iterations[1]!.stepSeconds.train, 3);
  const table = markdownTable([arm]);
  assert.match(
    table,
    /\| evolve \| 1 \| 80\.0 \[49\.0, 94\.3\] \| 90\.0 \[.*\] \| 100\.0 \[.*\] \| 10\.0 \| 2 \| 1 \(50\.0 %\) \|/,
  );
  assert.match(table, /\| evolve \| 0 \| 20\.0 .* \| - \| - \|/);

  // results.json rebuilds the table and both charts (`evolve experiment render`).
  const results = { smoke: false, split: 'test' as const, wallSeconds: 12, arms: [arm] };
  const file = join(dir, 'results.json');
  writeFileSync(file, JSON.stringify(results));
  const written = await renderExperiment(readExperimentResults(file), join(dir, 'out'));
  assert.deepEqual(
    written.map((p) => p.slice(dir.length + 1)),
    ['out/results.md', 'out/charts/accuracy.svg', 'out/charts/refinement-gain.svg'],
  );
  assert.equal(readFileSync(written[0]!, 'utf8'), table + '\n');
  for (const svg of written.slice(1)) {
    const text = readFileSync(svg, 'utf8');
    assert.match(text, /^<svg/);
    assert.match(text, /evolve/, 'the arm is in the legend');
  }
  assert.match(readFileSync(written[1]!, 'utf8'), /refine@2/, 'a panel per metric');
});

test('a results.json with a bad field is refused naming the file and the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'micro-bad-'));
  const file = join(dir, 'results.json');
  writeFileSync(file, JSON.stringify({ smoke: false, split: 'train', wallSeconds: 1, arms: [] }));
  assert.throws(
    () => readExperimentResults(file),
    (err: Error) => {
      assert.match(err.message, new RegExp(`${file} is invalid`));
      assert.match(err.message, /split/);
      return true;
    },
  );
  writeFileSync(file, '{"smoke": ');
  assert.throws(() => readExperimentResults(file), new RegExp(`${file}: `));
});
