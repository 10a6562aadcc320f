import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { judgeRow, officialJudge, writeOfficialFiles, type Ask } from '../../activities/suites.js';
import { openAIChat } from '../../activities/inference.js';
import { SuiteSchema, type Suite } from '../../core/config.js';
import type { VerdictRecord } from '../../core/records.js';
import { readArenaHardAnswers, readReferenceAnswers } from '../../storage/benchmarks/loaders.js';
import { defaultAnnotatorConfig } from '../../storage/benchmarks/official-configs.js';
import { startRecordingServer, type RecordingServer } from '../support/recording-openai.js';

// The official judges' requests and judged files, recorded from alpaca-eval 0.6.6's annotator and
// arena-hard-auto's gen_judgment.py against the recording server (test/fixtures/official-judges/generate.ts),
// and evolve's suites against the same server: both must match, and a changed template or parameter must not.
const FIXTURES = join('test', 'fixtures', 'official-judges');
const fixture = (...p: string[]) => join(FIXTURES, ...p);
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as unknown;

let server: RecordingServer;
let dir: string;
before(async () => {
  server = await startRecordingServer();
  dir = mkdtempSync(join(tmpdir(), 'evolve-official-judges-'));
});
after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const endpoint = () => ({ baseUrl: server.baseUrl, maxConcurrency: 1 });
const sorted = (requests: unknown[]) =>
  requests
    .map((r) => JSON.stringify(r))
    .sort()
    .map((r) => JSON.parse(r) as unknown);

/** Runs a suite's official judge on the fixture answers (round 0), as judgeSuiteShard does, and writes the files. */
async function judgeFixture(suite: Suite, answers: Map<string, string>, ids: string[]) {
  if (suite.kind === 'accuracy') throw new Error('a pairwise suite');
  server.requests.length = 0;
  const judge = await officialJudge(suite);
  const chat = openAIChat(suite.judge.endpoint);
  const ask: Ask = (messages, params) => chat.exact!({ model: judge.model, messages, params });
  const references = await readReferenceAnswers(suite);
  const verdicts: VerdictRecord[] = [];
  for (const id of ids) {
    const row = { prompt: prompts.get(id)!, answer: answers.get(id)!, reference: references.get(id)! };
    const judged = await judgeRow(ask, judge, suite.seed, row);
    verdicts.push({
      promptId: id,
      round: 0,
      generationId: id,
      judge: judge.label,
      modelLength: 0,
      referenceLength: 0,
      ...judged,
    });
  }
  const suiteDir = join(dir, suite.name, 'iter-1', `suite-${suite.name}`);
  await writeOfficialFiles(suiteDir, suite.kind, verdicts, [0]);
  return { requests: sorted(server.requests), suiteDir, judge, verdicts };
}
const prompts = new Map<string, string>();

// AlpacaEval 2 ----------------------------------------------------------------------------------------

type AlpacaRow = { instruction: string; output: string; dataset: string };
const alpacaOutputs = readJson(fixture('alpaca-eval', 'model_outputs.json')) as AlpacaRow[];
const alpacaIds = alpacaOutputs.map((_, i) => `alpaca-eval-${i}`);
alpacaOutputs.forEach((r, i) => prompts.set(alpacaIds[i]!, r.instruction));
const alpacaSuite = (annotator?: string) =>
  SuiteSchema.parse({
    name: 'alpaca',
    kind: 'alpaca-eval',
    prompts: fixture('alpaca-eval', 'reference_outputs.json'),
    judge: { endpoint: endpoint(), ...(annotator ? { annotator } : {}) },
  });
const alpacaAnswers = () => new Map(alpacaOutputs.map((r, i) => [alpacaIds[i]!, r.output]));
/** The fields the scoring reads, with generator_2 named as the official run named it. */
const scored = (rows: Record<string, unknown>[]) =>
  rows.map((r) => ({
    dataset: r.dataset,
    instruction: r.instruction,
    output_1: r.output_1,
    generator_1: r.generator_1,
    output_2: r.output_2,
    annotator: r.annotator,
    preference: r.preference,
  }));

/** A copy of the installed annotator (its configs.yaml and template, in the package's layout), edited. */
function editedAnnotator(
  name: string,
  edit: { template?: (t: string) => string; config?: (c: string) => string },
) {
  const installed = defaultAnnotatorConfig();
  const root = join(dir, name, 'evaluators_configs');
  cpSync(dirname(dirname(installed)), root, { recursive: true });
  const config = join(root, 'weighted_alpaca_eval_gpt4_turbo', 'configs.yaml');
  const template = join(root, 'alpaca_eval_clf_gpt4_turbo', 'alpaca_eval_clf.txt');
  if (edit.config) writeFileSync(config, edit.config(readFileSync(config, 'utf8')));
  if (edit.template) writeFileSync(template, edit.template(readFileSync(template, 'utf8')));
  return config;
}

test('AlpacaEval 2: the requests and annotations.json equal those of alpaca-eval 0.6.6 weighted_alpaca_eval_gpt4_turbo', async () => {
  const official = readJson(fixture('alpaca-eval', 'official-requests.json')) as unknown[];
  const { requests, suiteDir, judge, verdicts } = await judgeFixture(
    alpacaSuite(),
    alpacaAnswers(),
    alpacaIds,
  );
  assert.equal(judge.label, 'official weighted_alpaca_eval_gpt4_turbo, judge gpt-4-1106-preview');
  // Messages (system and user, as the template's ChatML roles), model, max_tokens, temperature, top_p,
  // logprobs, top_logprobs, which output is shown first: all in the request bodies.
  assert.equal(requests.length, official.length);
  assert.deepEqual(requests, official);
  // Both orders occur, an equal output is not sent, and a reply without m/M leaves no preference.
  assert.deepEqual(new Set(verdicts.map((v) => v.swapped)), new Set([true, false]));
  assert.ok(verdicts.some((v) => v.preference === 1.5) && verdicts.some((v) => v.status === 'unparseable'));
  const mine = readJson(
    join(suiteDir, 'results', 'iter-1-r0', 'weighted_alpaca_eval_gpt4_turbo', 'annotations.json'),
  ) as Record<string, unknown>[];
  const theirs = readJson(fixture('alpaca-eval', 'official-annotations.json')) as Record<string, unknown>[];
  assert.deepEqual(scored(mine), scored(theirs));
  assert.deepEqual(
    Object.keys(mine[0]!).slice(0, 8),
    Object.keys(theirs[0]!).slice(0, 8),
    'the official key order',
  );
  const outputs = readJson(join(suiteDir, 'results', 'iter-1-r0', 'model_outputs.json')) as AlpacaRow[];
  assert.deepEqual(
    outputs.map((o) => o.output),
    alpacaOutputs.map((o) => o.output),
  );
});

test('AlpacaEval 2: one character of the template or a changed parameter changes the requests', async () => {
  const official = readJson(fixture('alpaca-eval', 'official-requests.json'));
  const template = editedAnnotator('template', {
    template: (t) => t.replace('Best Model Identifier', 'Best model Identifier'),
  });
  assert.notDeepEqual(
    (await judgeFixture(alpacaSuite(template), alpacaAnswers(), alpacaIds)).requests,
    official,
  );
  const param = editedAnnotator('param', { config: (c) => c.replace('top_logprobs: 5', 'top_logprobs: 4') });
  assert.notDeepEqual(
    (await judgeFixture(alpacaSuite(param), alpacaAnswers(), alpacaIds)).requests,
    official,
  );
  const same = editedAnnotator('same', {});
  assert.deepEqual((await judgeFixture(alpacaSuite(same), alpacaAnswers(), alpacaIds)).requests, official);
});

// Arena-Hard v0.1 -------------------------------------------------------------------------------------

const arenaSuite = (config = fixture('arena-hard', 'judge_config.yaml')) =>
  SuiteSchema.parse({
    name: 'arena',
    kind: 'arena-hard',
    prompts: fixture('arena-hard', 'question.jsonl'),
    baseline: fixture('arena-hard', 'gpt-4-0314.jsonl'),
    judge: { endpoint: endpoint(), config },
  });
const questions = readFileSync(fixture('arena-hard', 'question.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { question_id: string; turns: { content: string }[] });
questions.forEach((q) => prompts.set(q.question_id, q.turns[0]!.content));
const arenaIds = questions.map((q) => q.question_id);
const arenaAnswers = async () =>
  new Map(
    (await readArenaHardAnswers(fixture('arena-hard', 'fixture-model.jsonl'))).map((a) => [a.id, a.answer]),
  );
const judgmentLines = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => ({ ...(JSON.parse(l) as { question_id: string }), model: 'fixture-model' }))
    .sort((a, b) => a.question_id.localeCompare(b.question_id));

test('Arena-Hard v0.1: the requests and model_judgment file equal those of gen_judgment.py with judge_config.yaml', async () => {
  const official = readJson(fixture('arena-hard', 'official-requests.json')) as unknown[];
  const { requests, suiteDir, judge, verdicts } = await judgeFixture(
    arenaSuite(),
    await arenaAnswers(),
    arenaIds,
  );
  assert.equal(judge.label, 'official arena-hard-v0.1 judge, judge gpt-4-1106-preview');
  // Two games per question plus the follow-up turns where a reply had no verdict.
  assert.ok(official.length > 2 * arenaIds.length);
  assert.deepEqual(requests, official);
  assert.ok(
    verdicts.some((v) => v.status === 'unparseable'),
    'conflicting labels give no verdict',
  );
  const mine = judgmentLines(join(suiteDir, 'model_judgment', 'gpt-4-1106-preview', 'iter-1-r0.jsonl'));
  assert.deepEqual(mine, judgmentLines(fixture('arena-hard', 'official-judgment.jsonl')));
});

test('Arena-Hard v0.1: one character of the system prompt or a changed temperature changes the requests', async () => {
  const official = readJson(fixture('arena-hard', 'official-requests.json'));
  const text = readFileSync(fixture('arena-hard', 'judge_config.yaml'), 'utf8');
  const edited = (name: string, edit: (c: string) => string) => {
    const path = join(dir, `${name}.yaml`);
    writeFileSync(path, edit(text));
    return path;
  };
  const prompt = edited('prompt', (c) => c.replace('impartial judge', 'impartial judges'));
  assert.notDeepEqual(
    (await judgeFixture(arenaSuite(prompt), await arenaAnswers(), arenaIds)).requests,
    official,
  );
  const temperature = edited('temperature', (c) => c.replace('temperature: 0', 'temperature: 0.1'));
  assert.notDeepEqual(
    (await judgeFixture(arenaSuite(temperature), await arenaAnswers(), arenaIds)).requests,
    official,
  );
  const attempts = edited('attempts', (c) =>
    c.replace('number_of_judgment_attempts: 2', 'number_of_judgment_attempts: 1'),
  );
  assert.notDeepEqual(
    (await judgeFixture(arenaSuite(attempts), await arenaAnswers(), arenaIds)).requests,
    official,
  );
});
