import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataError } from '../../storage/files.js';
import { writeJsonlWithManifest } from '../../storage/jsonl-writer.js';
import { exportEvaluation } from '../../storage/benchmarks/exporters.js';
import { readArenaHardAnswers } from '../../storage/benchmarks/loaders.js';
import { readPromptFile } from '../support/prompt-file.js';
import {
  readAlpacaAnnotations,
  readArenaHardJudgments,
  readInstructionDifficulty,
} from '../../storage/benchmarks/official-results.js';
import { loadPrompts } from '../../activities/prompts.js';
import { metricsCommand } from '../../client/metrics.js';
import { ConfigError, parseRunConfig, type PromptFileFormat } from '../../core/config.js';
import type { GenerationRecord } from '../../core/records.js';
import { demoConfig } from '../support/config.js';
import { sharedFile } from '../support/paths.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'evolve-benchmarks-'));
const fixtures = 'test/fixtures/official';
const { path: data, skip } = sharedFile('');
const file = (path: string, format: PromptFileFormat) => readPromptFile({ kind: 'file', path, format });

test('official data files load as prompt records with the benchmark ids', { skip }, async () => {
  const gsm8k = await file(`${data}/gsm8k/test.jsonl`, 'gsm8k');
  assert.equal(gsm8k.length, 1319);
  assert.equal(new Set(gsm8k.map((p) => p.id)).size, 1319);
  assert.equal(gsm8k[0]!.answer, '18');
  const math = await file(`${data}/math500/test.jsonl`, 'math');
  assert.equal(math.length, 500);
  assert.equal(math[0]!.id, 'test/precalculus/807.json');
  const arena = await file(`${data}/arena-hard-v0.1/question.jsonl`, 'arena-hard');
  assert.equal(arena.length, 500);
  assert.match(arena[0]!.id, /^[0-9a-f]{32}$/);
  const alpaca = await file(`${data}/alpaca_eval/reference_gpt4_turbo.json`, 'alpaca-eval');
  assert.equal(alpaca.length, 805);
  assert.deepEqual(alpaca[1], { id: 'alpaca-eval-1', prompt: 'How did US states get their names?' });
  const answers = await readArenaHardAnswers(`${data}/arena-hard-v0.1/model_answer/gpt-4-0314.jsonl`);
  assert.equal(answers.length, 500);
  assert.deepEqual(new Set(answers.map((a) => a.id)), new Set(arena.map((p) => p.id)));
  assert.ok(answers.every((a) => a.model === 'gpt-4-0314' && a.answer.length > 0));
});

test('the older Arena-Hard formats (question_id/turns, question_id/choices) load too', async () => {
  const d = tmp();
  writeFileSync(
    join(d, 'q.jsonl'),
    JSON.stringify({ question_id: 'abc', cluster: 'x', turns: [{ content: 'Hi?' }] }) + '\n',
  );
  assert.deepEqual(await file(join(d, 'q.jsonl'), 'arena-hard'), [{ id: 'abc', prompt: 'Hi?' }]);
  writeFileSync(
    join(d, 'a.jsonl'),
    JSON.stringify({
      question_id: 'abc',
      answer_id: 'z',
      model_id: 'm',
      choices: [{ index: 0, turns: [{ content: 'Hello', token_len: 1 }] }],
    }) + '\n',
  );
  assert.deepEqual(await readArenaHardAnswers(join(d, 'a.jsonl')), [
    { id: 'abc', model: 'm', answer: 'Hello' },
  ]);
});

test('a bad row names its file, line and field', async () => {
  const d = tmp();
  const gsm = join(d, 'gsm.jsonl');
  writeFileSync(
    gsm,
    `${JSON.stringify({ question: 'q', answer: 'x\n#### 3' })}\n${JSON.stringify({ question: 'q2', answer: '3' })}\n`,
  );
  await assert.rejects(file(gsm, 'gsm8k'), (err: unknown) => {
    assert.ok(err instanceof DataError);
    assert.match(err.message, new RegExp(`${gsm}:2 is invalid:\\n  answer: a GSM8K solution`));
    return true;
  });
  const alpaca = join(d, 'outputs.json');
  writeFileSync(alpaca, '[\n  {\n    "instruction": "a"\n  },\n  {\n    "instruction": 3\n  }\n]\n');
  await assert.rejects(
    file(alpaca, 'alpaca-eval'),
    /outputs\.json:5 \(item 1\) is invalid:\n {2}instruction: /,
  );
  await assert.rejects(file(join(d, 'none.jsonl'), 'math'), /prompt file not found/);
});

test('loadPrompts writes official-format sources as prompt artifacts with their ids', async () => {
  const d = tmp();
  writeFileSync(
    join(d, 'q.jsonl'),
    JSON.stringify({ uid: 'u1', category: 'arena-hard-v0.1', prompt: 'Hi?' }) + '\n',
  );
  writeFileSync(
    join(d, 'math.jsonl'),
    JSON.stringify({ problem: '1+1?', answer: '2', unique_id: 'test/a/1.json' }) + '\n',
  );
  const manifest = await loadPrompts({
    scope: { runId: 'r', iteration: 1, dir: join(d, 'iter-1'), indexes: [join(d, 'cas')] },
    sources: [
      { kind: 'file', path: join(d, 'q.jsonl'), format: 'arena-hard' },
      { kind: 'file', path: join(d, 'math.jsonl'), format: 'math' },
    ],
    seedOffset: 0,
  });
  assert.equal(manifest.rows, 2);
  assert.deepEqual(
    readFileSync(manifest.uri, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown),
    [
      { id: 'u1', prompt: 'Hi?' },
      { id: 'test/a/1.json', prompt: '1+1?', answer: '2' },
    ],
  );
});

test('config: a file source may name a format; old configs keep their exact shape', () => {
  const base = demoConfig();
  assert.ok(!('format' in base.prompts[1]!), 'no default is filled in, so config hashes do not change');
  const withFormat = parseRunConfig({
    ...base,
    prompts: [{ kind: 'file', path: 'q.jsonl', format: 'arena-hard' }],
  });
  assert.deepEqual(withFormat.prompts[0], { kind: 'file', path: 'q.jsonl', format: 'arena-hard' });
  assert.throws(
    () => parseRunConfig({ ...base, prompts: [{ kind: 'file', path: 'q.jsonl', format: 'mmlu' }] }),
    (err: unknown) => err instanceof ConfigError && /prompts\.0\.format: Invalid option/.test(err.message),
  );
});

test('official result files: AlpacaEval annotations, Arena-Hard judgments (score or judgment text)', async () => {
  const annotations = await readAlpacaAnnotations(`${fixtures}/alpaca_eval_claude-2_annotations_head.json`);
  assert.deepEqual(
    annotations.map((a) => [a.model, a.reference, a.preference, a.position]),
    [
      ['claude-2', 'gpt4_1106_preview', 1.0001195986, 0],
      ['claude-2', 'gpt4_1106_preview', 1.0000022959, 1],
    ],
  );
  const fromDir = await readArenaHardJudgments([fixtures], 'gpt-4-0314');
  assert.deepEqual(fromDir, [
    { questionId: '08d2f41143ff411c83c02a521eb01948', model: 'gpt-3.5-turbo-0125', games: ['A=B', 'A>B'] },
  ]);
  // Without the parsed "score", the label comes from the judge's text.
  const d = tmp();
  const row = JSON.parse(
    readFileSync(`${fixtures}/arena_hard_gpt-3.5-turbo-0125_judgment_head.jsonl`, 'utf8'),
  ) as {
    games: { score?: string }[];
  };
  row.games.forEach((g) => delete g.score);
  writeFileSync(join(d, 'm.jsonl'), JSON.stringify(row) + '\n');
  assert.deepEqual((await readArenaHardJudgments([join(d, 'm.jsonl')], 'gpt-4-0314'))[0]!.games, [
    'A=B',
    'A>B',
  ]);
  writeFileSync(
    join(d, 'bad.jsonl'),
    JSON.stringify({ question_id: 'q', model: 'm', games: [{ score: 'A>B' }] }) + '\n',
  );
  await assert.rejects(
    readArenaHardJudgments([join(d, 'bad.jsonl')], 'gpt-4-0314'),
    /bad\.jsonl:1 is invalid:\n {2}games: two games/,
  );
  // Refused: a question judged twice for one model, a row judged against another baseline.
  const games = [{ score: 'A>B' }, { score: 'B>A' }];
  writeFileSync(
    join(d, 'twice.jsonl'),
    [{ question_id: 'q1' }, { question_id: 'q2' }, { question_id: 'q1' }]
      .map((r) => JSON.stringify({ ...r, model: 'm', games }))
      .join('\n') + '\n',
  );
  await assert.rejects(
    readArenaHardJudgments([join(d, 'twice.jsonl')], 'gpt-4-0314'),
    /twice\.jsonl:3: question "q1" of model "m" is judged twice \(first at .*twice\.jsonl:1\)/,
  );
  // v2.0 rows: uid, the baseline named, mirrored labels.
  const v2 = {
    uid: 'u1',
    model: 'm',
    baseline: 'o3-mini-2025-01-31',
    games: [{ score: 'B<A' }, { score: 'A<<B' }],
  };
  writeFileSync(join(d, 'v2.jsonl'), JSON.stringify(v2) + '\n');
  assert.deepEqual(await readArenaHardJudgments([join(d, 'v2.jsonl')], 'o3-mini-2025-01-31'), [
    { questionId: 'u1', model: 'm', games: ['A>B', 'B>>A'] },
  ]);
  await assert.rejects(
    readArenaHardJudgments([join(d, 'v2.jsonl')], 'gpt-4-0314'),
    /v2\.jsonl:1: judged against baseline "o3-mini-2025-01-31", not the --baseline "gpt-4-0314"/,
  );
  writeFileSync(join(d, 'difficulty.csv'), 'index,instruction_difficulty\n0,0.5\n1,-1.25\n2,oops\n');
  await assert.rejects(
    readInstructionDifficulty(join(d, 'difficulty.csv')),
    /difficulty\.csv:4: "instruction_difficulty" is not a number: "oops"/,
  );
});

test('evolve metrics prints AlpacaEval and Arena-Hard tables from official files', async () => {
  const lines: string[] = [];
  const say = (l: string) => lines.push(l);
  assert.equal(await metricsCommand(['arena-hard', fixtures, '--json', '--rounds', '20'], say), 0);
  const arena = JSON.parse(lines.join('\n')) as {
    rows: { model: string; score: number; wins: number; ties: number }[];
  };
  // Game 1 a tie, game 2 "A>B" with the model as A: one win, one tie -> 75 %.
  assert.equal(arena.rows[0]!.model, 'gpt-3.5-turbo-0125');
  assert.ok(Math.abs(arena.rows[0]!.score - 75) < 1e-6);
  lines.length = 0;
  assert.equal(
    await metricsCommand(['alpaca-eval', `${fixtures}/alpaca_eval_claude-2_annotations_head.json`], say),
    0,
  );
  const table = lines.join('\n').split('\n');
  assert.match(table[0]!, /^model\s+win_rate\s+standard_error/);
  assert.match(table[1]!, /^claude-2\s+0\.01\s+0\.01\s+0\s+2\s+0\s+2\s+0\s+n\/a$/);
  await assert.rejects(metricsCommand(['bleu', 'x'], say), ConfigError);
});

test('evolve metrics alpaca-eval --difficulty --lc-mode unpenalised adds the length-controlled win rate', async () => {
  const d = tmp();
  // A model that wins exactly when it is longer: the raw win rate rewards length, LC much less.
  const rows = Array.from({ length: 60 }, (_, i) => {
    const longer = i % 3 !== 0;
    return {
      instruction: `q${i}`,
      output_1: 'r'.repeat(100),
      output_2: 'm'.repeat(longer ? 150 + i : 60),
      generator_1: 'ref',
      generator_2: 'long-model',
      preference: longer ? 1.9 : 1.1,
    };
  });
  writeFileSync(join(d, 'annotations.json'), JSON.stringify(rows));
  writeFileSync(
    join(d, 'difficulty.csv'),
    'index,instruction_difficulty\n' + rows.map((_, i) => `${i},${(i % 5) / 10}`).join('\n') + '\n',
  );
  const lines: string[] = [];
  const args = [
    'alpaca-eval',
    join(d, 'annotations.json'),
    '--difficulty',
    join(d, 'difficulty.csv'),
    '--lc-mode',
    'unpenalised',
    '--json',
  ];
  assert.equal(await metricsCommand(args, (l) => lines.push(l)), 0);
  const [row] = JSON.parse(lines.join('\n')) as { winRate: number; lengthControlledWinRate: number }[];
  assert.ok(Math.abs(row!.winRate - 63.33) < 0.01);
  assert.ok(row!.lengthControlledWinRate < row!.winRate - 10, `LC ${row!.lengthControlledWinRate}`);
});

const generation = (promptId: string, step: number, text: string): GenerationRecord => ({
  id: `r/1/${promptId}/0/${step}`,
  promptId,
  chain: 0,
  step,
  parentId: null,
  text,
  finishReason: 'stop',
  usage: null,
  model: 'policy',
  temperature: 0,
  maxTokens: 16,
  seed: 0,
  templateHash: null,
  latencyMs: 1,
  flags: [],
});

test('evolve export writes AlpacaEval model outputs and Arena-Hard answers of a chosen round', async () => {
  const run = join(tmp(), 'my-run');
  const evalDir = join(run, 'iter-2', 'eval');
  const by = { step: 's', runId: 'my-run', iteration: 2 };
  await writeJsonlWithManifest(
    join(evalDir, 'prompts.jsonl'),
    'prompt',
    [
      { id: 'u1', prompt: 'Say hi', answer: '1' },
      { id: 'u2', prompt: 'Add 1+1', answer: '2' },
    ],
    by,
  );
  await writeJsonlWithManifest(
    join(evalDir, 'sample', 'shard-0.jsonl'),
    'generation',
    [generation('u1', 1, 'hi'), generation('u2', 1, '3')],
    by,
  );
  await writeJsonlWithManifest(
    join(evalDir, 'refine', 'shard-0.jsonl'),
    'generation',
    [generation('u1', 2, 'Hi!'), generation('u2', 2, '2')],
    by,
  );

  const alpaca = join(run, 'model_outputs.json');
  assert.deepEqual(await exportEvaluation({ runDir: run, format: 'alpaca-eval', out: alpaca }), {
    rows: 2,
    model: 'my-run-iter2-r1',
  });
  assert.deepEqual(JSON.parse(readFileSync(alpaca, 'utf8')), [
    { instruction: 'Say hi', output: 'Hi!', generator: 'my-run-iter2-r1' },
    { instruction: 'Add 1+1', output: '2', generator: 'my-run-iter2-r1' },
  ]);
  const arena = join(run, 'answers.jsonl');
  await exportEvaluation({ runDir: run, format: 'arena-hard', out: arena, round: 0, model: 'evolve-direct' });
  assert.deepEqual(await readArenaHardAnswers(arena), [
    { id: 'u1', model: 'evolve-direct', answer: 'hi' },
    { id: 'u2', model: 'evolve-direct', answer: '3' },
  ]);

  await assert.rejects(
    exportEvaluation({ runDir: run, format: 'arena-hard', out: arena, round: 2 }),
    /round 2 not available/,
  );
  await assert.rejects(
    exportEvaluation({ runDir: run, format: 'arena-hard', out: arena, iteration: 1 }),
    /iteration 1 has no evaluation/,
  );
  // The same answers graded GSM8K-style: "Hi!" has no number, "2" is right.
  const lines: string[] = [];
  await metricsCommand(['gsm8k', run, '--json'], (l) => lines.push(l));
  const graded = JSON.parse(lines.join('\n')) as {
    round: number;
    rows: { extractor: string; correct: number; extracted: number }[];
  };
  assert.equal(graded.round, 1);
  assert.deepEqual(
    graded.rows.find((r) => r.extractor === 'flexible'),
    { extractor: 'flexible', correct: 1, extracted: 1, total: 2, accuracy: 0.5 },
  );

  // A prompt without an answer: refused, and nothing is written.
  await writeJsonlWithManifest(
    join(evalDir, 'refine', 'shard-0.jsonl'),
    'generation',
    [generation('u1', 2, 'Hi!')],
    by,
  );
  const partial = join(run, 'partial.json');
  await assert.rejects(
    exportEvaluation({ runDir: run, format: 'alpaca-eval', out: partial }),
    /1 of 2 prompts have no answer at round 1 \(first: u2\)/,
  );
  assert.equal(existsSync(partial), false);
});

test('loadPrompts streams a prompt set larger than one call may spread, and a duplicate id leaves no file', async () => {
  const d = tmp();
  const scope = { runId: 'r', iteration: 1, dir: join(d, 'iter-1'), indexes: [join(d, 'cas')] };
  const manifest = await loadPrompts({
    scope,
    sources: [{ kind: 'arithmetic', count: 200_000, seed: 3, maxOperand: 99 }],
    seedOffset: 1,
  });
  assert.equal(manifest.rows, 200_000);
  assert.equal(manifest.stats.withAnswer, 200_000);
  const lines = readFileSync(manifest.uri, 'utf8').trim().split('\n');
  assert.equal(lines.length, 200_000);
  assert.equal((JSON.parse(lines.at(-1)!) as { id: string }).id, 'arith-4-199999');

  writeFileSync(join(d, 'dup.jsonl'), JSON.stringify({ id: 'arith-1-0', prompt: 'Hi?' }) + '\n');
  const again = { ...scope, dir: join(d, 'iter-2') };
  await assert.rejects(
    loadPrompts({
      scope: again,
      sources: [
        { kind: 'arithmetic', count: 10, seed: 1, maxOperand: 99 },
        { kind: 'file', path: join(d, 'dup.jsonl') },
      ],
      seedOffset: 0,
    }),
    /prompt id "arith-1-0" appears twice across 2 source\(s\)/,
  );
  assert.deepEqual(readdirSync(again.dir), []);
});
