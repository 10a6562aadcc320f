import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { DataError } from '../../storage/files.js';
import { checkPromptPools } from '../../storage/prompt-pools.js';
import { loadPrompts, validateConfig } from '../../activities/prompts.js';
import { buildSftSet } from '../../activities/sft-set.js';
import { loadConfigFile } from '../../client/config-file.js';
import { ConfigError, parseRunConfig, type PromptSource } from '../../core/config.js';
import { iterationSlice } from '../../core/prompt-slices.js';
import { demoConfig } from '../support/config.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'evolve-protocol-'));
const ids = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { id: string }).id);

/** An evolve prompt file of `n` rows, p0..p(n-1). */
function pool(dir: string, n: number, text = (i: number) => `Question number ${i}?`): string {
  const path = join(dir, 'pool.jsonl');
  writeFileSync(
    path,
    Array.from({ length: n }, (_, i) => JSON.stringify({ id: `p${i}`, prompt: text(i) })).join('\n') + '\n',
  );
  return path;
}

const load = (dir: string, iteration: number, sources: PromptSource[], exclude?: PromptSource[]) =>
  loadPrompts({
    scope: { runId: 'r', iteration, dir: join(dir, `iter-${iteration}`, 'train'), indexes: [] },
    sources,
    seedOffset: iteration,
    ...(exclude ? { exclude } : {}),
  });

test('per-iteration slices of a seeded shuffle are disjoint, cover iterations x perIteration rows, and are stable', () => {
  const rows = Array.from({ length: 50 }, (_, i) => i);
  const slices = [1, 2, 3].map((t) => iterationSlice(rows.length, { perIteration: 15, seed: 7 }, t).rows);
  assert.deepEqual(
    slices.map((s) => s.length),
    [15, 15, 15],
  );
  assert.equal(new Set(slices.flat()).size, 45, 'no row is in two iterations');
  assert.deepEqual(
    [1, 2, 3].map((t) => iterationSlice(rows.length, { perIteration: 15, seed: 7 }, t).rows),
    slices,
    'the same seed gives the same slices',
  );
  assert.notDeepEqual(
    iterationSlice(rows.length, { perIteration: 15, seed: 8 }, 1).rows,
    slices[0],
    'seed matters',
  );
  assert.notDeepEqual(slices[0], rows.slice(0, 15), 'shuffled, not the first rows');
  assert.throws(
    () => iterationSlice(rows.length, { perIteration: 15, seed: 7 }, 4),
    /50 prompts are too few for 4 iteration\(s\) x perIteration 15 = 60 disjoint prompts/,
  );
});

test('loadPrompts gives each iteration its own slice of a file pool, the same again on resume', async () => {
  const d = tmp();
  const source: PromptSource = { kind: 'file', path: pool(d, 20), perIteration: 6, seed: 3 };
  const first = await Promise.all([1, 2, 3].map((t) => load(d, t, [source])));
  const picked = first.map((m) => ids(m.uri));
  assert.deepEqual(
    picked.map((p) => p.length),
    [6, 6, 6],
  );
  assert.equal(new Set(picked.flat()).size, 18);
  assert.deepEqual(first[1]!.stats, {
    withAnswer: 0,
    poolSize: 20,
    sliceStart: 6,
    sliceEnd: 12,
    sliceSeed: 3,
  });
  // A resumed (or reset) run in a fresh directory draws the same prompts from the same seed.
  const again = tmp();
  const resumed = await Promise.all([1, 2, 3].map((t) => load(again, t, [source])));
  assert.deepEqual(
    resumed.map((m) => ids(m.uri)),
    picked,
  );
  assert.deepEqual(
    resumed.map((m) => m.sha256),
    first.map((m) => m.sha256),
  );
});

test('a pool too small for iterations x perIteration is refused at config time, with the numbers', async () => {
  const d = tmp();
  const path = pool(d, 10);
  const config = demoConfig({
    runId: 'small',
    artifactRoot: join(d, 'artifacts'),
    iterations: 3,
    prompts: [{ kind: 'file', path, perIteration: 4 }],
  });
  await assert.rejects(
    validateConfig(config),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.message.includes(
        `prompts.0.perIteration: ${path}: 10 prompts are too few for 3 iteration(s) x perIteration 4 = 12 disjoint prompts`,
      ),
  );
  await validateConfig({ ...config, iterations: 2 });
  // The CLI refuses it the same way before anything starts.
  const file = join(d, 'small.yaml');
  writeFileSync(file, stringify(config));
  const cli = spawnSync(process.execPath, ['--import', 'tsx', 'client/cli.ts', 'config', file], {
    encoding: 'utf8',
  });
  assert.equal(cli.status, 2, cli.stderr);
  assert.match(
    cli.stderr,
    /10 prompts are too few for 3 iteration\(s\) x perIteration 4 = 12 disjoint prompts/,
  );
  assert.throws(
    () =>
      parseRunConfig({
        ...config,
        evaluation: { ...config.evaluation, prompts: { kind: 'file', path, perIteration: 2 } },
      }),
    /evaluation\.prompts\.perIteration: evaluation prompts are the same every iteration/,
  );
});

test('evaluation prompts without gold answers are refused for accuracy unless judgeAccuracy is set', async () => {
  const d = tmp();
  const path = join(d, 'open.jsonl');
  writeFileSync(
    path,
    [
      { id: 'q1', prompt: 'What is 2 + 2?', answer: '4' },
      { id: 'essay', prompt: 'Write a poem about rivers.' },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n') + '\n',
  );
  const base = demoConfig({ runId: 'ungraded', artifactRoot: join(d, 'artifacts') });
  const config = { ...base, evaluation: { ...base.evaluation, prompts: { kind: 'file' as const, path } } };
  await assert.rejects(
    validateConfig(config),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.message.includes(
        `evaluation.prompts: ${path}: 1 of 2 prompts have no gold answer (first: id "essay")`,
      ) &&
      err.message.includes('evaluation.judgeAccuracy: true'),
  );
  await validateConfig({ ...config, evaluation: { ...config.evaluation, judgeAccuracy: true } });
});

test('training prompts that are also evaluation or suite prompts (normalised text) are dropped and counted', async () => {
  const d = tmp();
  const train = pool(d, 6);
  const evalPath = join(d, 'eval.jsonl');
  // Case and whitespace differ: the same prompt after normalisation.
  writeFileSync(
    evalPath,
    [
      { id: 'e1', prompt: '  QUESTION   number\n1?' },
      { id: 'e2', prompt: 'Something else?' },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n') + '\n',
  );
  const suitePath = join(d, 'suite.jsonl');
  writeFileSync(suitePath, JSON.stringify({ question: 'question number 4?', answer: 'x #### 4' }) + '\n');
  const manifest = await load(
    d,
    1,
    [{ kind: 'file', path: train }],
    [
      { kind: 'file', path: evalPath },
      { kind: 'file', path: suitePath, format: 'gsm8k' },
    ],
  );
  assert.deepEqual(ids(manifest.uri), ['p0', 'p2', 'p3', 'p5']);
  assert.equal(manifest.rows, 4);
  assert.equal(manifest.stats.droppedContaminated, 2);
  // Without held-out sources nothing is dropped (and nothing is counted).
  const plain = await load(tmp(), 1, [{ kind: 'file', path: train }]);
  assert.equal(plain.rows, 6);
  assert.equal(plain.stats.droppedContaminated, undefined);
});

test('stage 0 SFT rows: x -> y_w and c(x, y_l, z) -> y_w per triple, reused while the file is unchanged; a bad row names file:line', async () => {
  const d = tmp();
  const dataset = join(d, 'prefs.jsonl');
  const user = (content: string) => ({ role: 'user', content });
  const assistant = (content: string) => ({ role: 'assistant', content });
  const rows = [
    { prompt: [user('2+2?')], chosen: [assistant('4')], rejected: [assistant('5')], score_chosen: 9 },
    {
      prompt: [{ role: 'system', content: 'Be brief.' }, user('Capital of France?')],
      chosen: [assistant('Paris')],
      rejected: [assistant('Lyon')],
    },
  ];
  writeFileSync(dataset, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const refinement = demoConfig().refinement;
  const scope = { runId: 'r', iteration: 0, dir: join(d, 'stage0', 'data'), indexes: [join(d, 'cas')] };
  const made = await buildSftSet({ scope, dataset, refinement });
  assert.equal(made.rows, 4);
  assert.deepEqual(made.stats, { triples: 2, sftRows: 4 });
  const sft = readFileSync(made.uri, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { kind: string; prompt: unknown[]; completion: unknown[] });
  assert.deepEqual(
    sft.map((r) => r.kind),
    ['direct', 'refinement', 'direct', 'refinement'],
  );
  assert.deepEqual(sft[1]!.prompt, [user('2+2?'), assistant('5'), user(refinement.instruction)]);
  assert.deepEqual(sft[1]!.completion, [assistant('4')]);
  assert.deepEqual(sft[3]!.prompt, [
    { role: 'system', content: 'Be brief.' },
    user('Capital of France?'),
    assistant('Lyon'),
    user(refinement.instruction),
  ]);
  const again = await buildSftSet({ scope, dataset, refinement });
  assert.equal(again.reused, true);
  assert.equal(again.sha256, made.sha256);
  // The same file elsewhere, built afresh: the same sft.jsonl, so the SFT it feeds is reused.
  const copy = join(d, 'copy.jsonl');
  copyFileSync(dataset, copy);
  const elsewhere = await buildSftSet({
    scope: { runId: 'r2', iteration: 0, dir: join(d, 'r2', 'stage0', 'data'), indexes: [join(d, 'cas-r2')] },
    dataset: copy,
    refinement,
  });
  assert.equal(elsewhere.reused ?? false, false);
  assert.equal(elsewhere.sha256, made.sha256);
  writeFileSync(
    dataset,
    JSON.stringify(rows[0]) + '\n' + JSON.stringify({ prompt: [user('x')], chosen: [] }) + '\n',
  );
  await assert.rejects(
    buildSftSet({ scope: { ...scope, dir: join(d, 'other') }, dataset, refinement }),
    (err: unknown) =>
      err instanceof DataError &&
      err.message.includes(`${dataset}:2`) &&
      /chosen: one chosen message/.test(err.message) &&
      /rejected: required/.test(err.message),
  );
});

test('the paper presets pass what evolve config checks, and their stage 0 sets are valid', async () => {
  const dir = 'deploy/configs/paper';
  const presets = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  for (const arm of ['evolve', 'iterative-dpo', 'srpo'])
    for (const preset of [`${arm}.yaml`, `cpu-smoke-${arm}.yaml`])
      assert.ok(presets.includes(preset), `${preset} is missing from ${dir}`);
  for (const preset of presets) {
    const config = loadConfigFile(join(dir, preset));
    // The full-size presets name the user's data on the worker's machine: evolve config notes it.
    const absent: string[] = [];
    const full = !preset.startsWith('cpu-smoke-');
    await checkPromptPools(config, preset, full ? (line) => absent.push(line) : undefined);
    if (full) {
      assert.match(absent.join('\n'), /prompts\.0\.path: .* is not on this machine: its pool \(3 x 10000\)/);
      continue;
    }
    const dataset = config.trainer.sft.dataset;
    if (dataset) {
      const scope = { runId: config.runId, iteration: 0, dir: tmp(), indexes: [] };
      const sft = await buildSftSet({ scope, dataset, refinement: config.refinement });
      assert.ok(sft.rows > 0, `${preset}: ${dataset} yields SFT rows`);
    }
  }
  // The baselines differ from EVOLVE where the method does.
  const arm = (name: string) => loadConfigFile(join(dir, `${name}.yaml`));
  assert.equal(arm('iterative-dpo').pairing.refinementPairs, false);
  assert.equal(arm('iterative-dpo').sampling.strategy, 'parallel');
  assert.equal(arm('srpo').trainer.loss, 'srpo');
  assert.equal(arm('evolve').trainer.launcher.kind, 'accelerate');
});
