import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  armConfig,
  armResults,
  markdownTable,
  pairedComparisons,
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

const close = (got: number, want: number) => assert.ok(Math.abs(got - want) < 1e-9, `${got} != ${want}`);

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

test('the full arms run iterations 0..3 on 400 held-out problems; smoke is 1 iteration on a handful', () => {
  const full = armConfig('evolve', options, servers);
  assert.equal(full.iterations, 3);
  assert.notEqual(full.evaluation.iterationZero, false);
  assert.equal(full.evaluation.refineRounds, 1, 'direct and refine@1: what the questions ask');
  assert.ok(full.evaluation.prompts.kind === 'arithmetic' && full.evaluation.prompts.count >= 400);
  const smoke = armConfig('evolve', { ...options, smoke: true }, servers);
  assert.equal(smoke.iterations, 1);
  assert.ok(smoke.prompts.every((p) => p.kind === 'arithmetic' && p.count <= 5));
  assert.ok(smoke.evaluation.maxTokens! <= 16 && smoke.trainer.extraArgs.includes('--max_steps'));
  assert.equal(smoke.trainer.sft.epochs, 1, 'stage 0 stays short under --smoke');
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
  assert.equal(parsed.iterations, undefined, "the configs' iterations unless --iterations");
  const short = parseExperimentArgs(['micro', '--split', 'dev', '--iterations', '1']);
  assert.equal(armConfig('evolve', { ...options, ...short }, servers).iterations, 1);
  for (const bad of ['101', '1.5', 'x'])
    assert.throws(
      () => parseExperimentArgs(['micro', '--iterations', bad]),
      new RegExp(`--iterations ${bad}: expected a whole number from 0 to 100`),
    );
});

test('--replicate R moves the training problems seeds only: other problems and samples, the same test problems', () => {
  for (const bad of ['1000', '0.5', 'x'])
    assert.throws(
      () => parseExperimentArgs(['micro', '--replicate', bad]),
      new RegExp(`--replicate ${bad}: expected a whole number from 0 to 999`),
    );
  const parsed = parseExperimentArgs(['micro', '--stamp', 's1', '--replicate', '2']);
  for (const arm of ARMS) {
    const first = armConfig(arm, options, servers);
    const second = armConfig(arm, { ...options, ...parsed }, servers);
    assert.deepEqual(diff(first, second), ['prompts']);
    assert.deepEqual(
      second.prompts.map((p) => p.seed),
      first.prompts.map((p) => (p.seed ?? 0) + 2000),
    );
    assert.deepEqual(second.evaluation, first.evaluation, 'the same test problems');
    assert.deepEqual(armConfig(arm, { ...options, replicate: 0 }, servers), first);
  }
});

test('--reuse-from: the earlier experiment runs that exist become every run reuse sources', () => {
  for (const bad of ['s1', 'Bad!'])
    assert.throws(
      () => parseExperimentArgs(['micro', '--stamp', 's1', '--reuse-from', bad]),
      new RegExp(`--reuse-from ${bad}: an earlier experiment's stamp`),
    );
  const root = mkdtempSync(join(tmpdir(), 'micro-reuse-'));
  // The earlier dev experiment s0 ran stage 0 and the base model only (--iterations 0 writes no arm runs).
  for (const run of ['micro-stage0-dev-s0', 'micro-base-dev-s0', 'micro-evolve-s0']) {
    mkdirSync(join(root, run), { recursive: true });
    writeFileSync(join(root, run, 'config.json'), '{}');
  }
  const parsed = parseExperimentArgs(['micro', '--split', 'dev', '--stamp', 's1', '--reuse-from', 's0']);
  const config = armConfig('evolve', { ...parsed, artifactRoot: root }, servers);
  assert.equal(config.runId, 'micro-evolve-dev-s1');
  assert.deepEqual(config.reuseFrom, ['micro-stage0-dev-s0', 'micro-base-dev-s0', 'micro-evolve-s0']);
  // The test run after the dev runs: the dev experiment's stage 0 and training are its reuse sources.
  const test = parseExperimentArgs(['micro', '--stamp', 't1', '--reuse-from', 's0']);
  assert.deepEqual(armConfig('iterative-dpo', { ...test, artifactRoot: root }, servers).reuseFrom, [
    'micro-evolve-s0',
    'micro-stage0-dev-s0',
    'micro-base-dev-s0',
  ]);
  assert.equal(armConfig('evolve', { ...options, artifactRoot: root }, servers).reuseFrom, undefined);
});

test('results: Wilson intervals per metric, paired differences, pairs, wins, truncation and steps', async () => {
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
  // evaluation.json as activities/evaluate.ts writes it: per round, the kept answer's score per prompt.
  const evaluation = (name: string, rounds: number[][]) => {
    const uri = join(dir, `${name}.json`);
    const kept = rounds.flatMap((right, round) =>
      Array.from({ length: 10 }, (_, i) => ({
        promptId: `arith-${i}`,
        round,
        generationId: `g${i}`,
        score: right.includes(i) ? 1 : 0,
      })),
    );
    writeFileSync(uri, JSON.stringify({ kept }));
    return { uri, prompts: 10, accuracy: rounds.map((r) => r.length / 10), wallMs: 1 };
  };
  const upTo = (n: number) => Array.from({ length: n }, (_, i) => i);
  // The DPO job's checkpoint.json, beside its output directory (activities/training/registry.ts).
  mkdirSync(join(dir, 'job'));
  writeFileSync(
    join(dir, 'job', 'checkpoint.json'),
    JSON.stringify({ metrics: { truncated_rows: 2, dropped_rows: 1, optimizerSteps: 7, loss: 0.5 } }),
  );
  // The sampled responses: r/1/p/0/1 was cut at maxTokens and is trained on; r/1/q/0/1 is not trained on.
  mkdirSync(join(dir, 'sample'));
  const generation = (id: string, flags: string[]) => ({
    id,
    promptId: 'p',
    chain: 0,
    step: 1,
    parentId: null,
    text: 't',
    finishReason: flags.length ? 'length' : 'stop',
    usage: null,
    model: 'm',
    temperature: 1,
    maxTokens: 8,
    seed: 1,
    templateHash: null,
    latencyMs: 1,
    flags,
  });
  writeFileSync(
    join(dir, 'sample', 'shard-0.jsonl'),
    [
      generation('r/1/p/0/1', ['truncated']),
      generation('r/1/q/0/1', ['truncated']),
      generation('r/1/p/0/2', []),
    ]
      .map((g) => JSON.stringify(g))
      .join('\n') + '\n',
  );
  const step = (name: string, uri = '') => ({
    iteration: 1,
    step: name,
    rows: 3,
    wallMs: 1500,
    uri,
    reused: false,
  });
  const run = (runId: string, iteration1: number[][]): RunResult => ({
    runId,
    configHash: 'h',
    finalModel: 'm',
    iterations: [
      {
        iteration: 0,
        checkpoint: 'm',
        evaluation: evaluation(`${runId}-0`, [
          [0, 1],
          [0, 1, 2],
          [0, 1, 2],
        ]),
        steps: [],
      },
      {
        iteration: 1,
        checkpoint: 'c',
        evaluation: evaluation(`${runId}-1`, iteration1),
        steps: [
          step('train:sample', join(dir, 'sample')),
          step('pair', pairsFile),
          step('train', join(dir, 'job', 'output')),
          step('train'),
        ],
      },
    ],
  });
  // refine@1 alone right on 8 and 9, direct alone on 7: 9/10 - 8/10, 3 discordant problems.
  const evolve = run('e', [upTo(8), [...upTo(7), 8, 9], upTo(10)]);
  const dpo = run('d', [upTo(7), upTo(7), upTo(7)]);
  const arm = await armResults('evolve', evolve);
  assert.equal(arm.iterations[0]!.pairs, null);
  assert.deepEqual(
    [arm.iterations[0]!.truncated, arm.iterations[0]!.optimizerSteps],
    [null, null],
    'iteration 0 trains nothing',
  );
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
  assert.deepEqual(arm.iterations[1]!.truncated, { responses: 1, trainerRows: 3 }, 'cut and dropped rows');
  assert.equal(arm.iterations[1]!.optimizerSteps, 7);
  assert.equal(arm.iterations[1]!.stepSeconds.train, 3);
  // scipy: binomtest(2, 3).proportion_ci(method='exact') -> 0.3 * (2 * [0.0943, 0.9916] - 1).
  const gain = arm.iterations[1]!.paired['refine@1-direct'];
  close(gain.estimate, 0.1);
  close(gain.low, -0.24342040556957215);
  close(gain.high, 0.2949577448042324);
  // EVOLVE - Iterative DPO: iteration 1 direct 8/10 against 7/10 (one discordant), refine@1 9 against 7
  // (two); iteration 0 is the same outcomes in both (no discordant problem: 0 [0, 0]).
  const comparisons = pairedComparisons(evolve, dpo);
  assert.deepEqual(
    comparisons.map((c) => [c.iteration, c.metric, Math.round(100 * c.estimate)]),
    [
      [0, 'direct', 0],
      [0, 'refine@1', 0],
      [1, 'direct', 10],
      [1, 'refine@1', 20],
    ],
  );
  close(comparisons[2]!.low, -0.095);
  close(comparisons[3]!.low, -0.1367544467966428); // scipy: binomtest(2, 2), exact
  close(comparisons[3]!.high, 0.2);
  const table = markdownTable([arm], comparisons);
  assert.match(
    table,
    /\| evolve \| 1 \| 80\.0 \[49\.0, 94\.3\] \| 90\.0 \[.*\] \| 100\.0 \[.*\] \| 10\.0 \[-24\.3, 29\.5\] \| 2 \| 1 \(50\.0 %\) \| 1 \/ 3 \| 7 \|/,
  );
  assert.match(table, /\| evolve \| 0 \| 20\.0 .* \| - \| - \| - \| - \|/);
  assert.match(table, /\| refine@1 \| 1 \| 20\.0 \[/);

  // results.json rebuilds the table and the charts (`evolve experiment render`).
  const results = {
    smoke: false,
    split: 'test' as const,
    wallSeconds: 12,
    stage0: null,
    arms: [arm],
    comparisons,
  };
  const file = join(dir, 'results.json');
  writeFileSync(file, JSON.stringify(results));
  const written = await renderExperiment(readExperimentResults(file), join(dir, 'out'));
  assert.deepEqual(
    written.map((p) => p.slice(dir.length + 1)),
    [
      'out/results.md',
      'out/charts/accuracy.svg',
      'out/charts/refinement-gain.svg',
      'out/charts/evolve-vs-iterative-dpo.svg',
    ],
  );
  assert.equal(readFileSync(written[0]!, 'utf8'), table + '\n');
  for (const svg of written.slice(1, 3)) {
    const text = readFileSync(svg, 'utf8');
    assert.match(text, /^<svg/);
    assert.match(text, /evolve/, 'the arm is in the legend');
  }
  assert.match(readFileSync(written[1]!, 'utf8'), /refine@2/, 'a panel per metric');
  assert.match(readFileSync(written[3]!, 'utf8'), /refine@1/, 'a line per metric');

  // Arms evaluated on different problems cannot be paired.
  const other = run('o', [upTo(8), upTo(8), upTo(8)]);
  const moved = join(dir, 'moved.json');
  writeFileSync(
    moved,
    readFileSync(other.iterations[1]!.evaluation.uri, 'utf8').replaceAll('arith-9', 'arith-x'),
  );
  other.iterations[1]!.evaluation.uri = moved;
  assert.throws(() => pairedComparisons(evolve, other), /evaluated different problems/);
});

test('a results.json with a bad field is refused naming the file and the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'micro-bad-'));
  const file = join(dir, 'results.json');
  writeFileSync(
    file,
    JSON.stringify({ smoke: false, split: 'train', wallSeconds: 1, stage0: null, arms: [], comparisons: [] }),
  );
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
