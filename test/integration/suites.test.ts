import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { readManifestRows } from '../../storage/manifests.js';
import { createActivities, defaultDeps } from '../../activities/index.js';
import { parseRunConfig, type Suite } from '../../core/config.js';
import { accuracyByExtractor } from '../../core/metrics/accuracy.js';
import { headToHead, lengthControlledWinRate } from '../../core/metrics/alpaca-eval.js';
import { arenaHardScores } from '../../core/metrics/arena-hard.js';
import type { Manifest } from '../../core/records.js';
import { resolveStrategy } from '../../core/strategies.js';
import type { ShardRef } from '../../core/steps.js';
import { verifiers } from '../../core/verify.js';
import { demoConfig } from '../support/config.js';
import { startFakeOpenAI, type FakeServer } from '../support/fake-openai.js';
import { startRecordingServer, type RecordingServer } from '../support/recording-openai.js';
import { isSwitched } from '../../activities/official/alpaca-eval.js';
import { readAlpacaAnnotations, readArenaHardJudgments } from '../../storage/benchmarks/official-results.js';

// The real generation, judge and suite activities; the fake OpenAI server is the policy (arithmetic
// answers, refinements always right) and the pairwise judge (the longer output wins, see fake-openai.ts).
// Slices of the public files (test/fixtures/suites/README.md): this test needs no shared data.
const SLICES = 'test/fixtures/suites';
const PROMPTS = 6;
const SHARD = 4; // two shards: 4 + 2 prompts
const strategy = resolveStrategy('chain', 1, 3); // direct, refine@1, refine@2
const ROUNDS = strategy.depth - 1;

let fake: FakeServer;
let recorder: RecordingServer;
let dir: string;
before(async () => {
  fake = await startFakeOpenAI();
  recorder = await startRecordingServer();
  dir = mkdtempSync(join(tmpdir(), 'evolve-suites-'));
});
after(async () => {
  await fake?.close();
  await recorder?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * The official files' first rows. Every other reference is cut to a few characters, so the short
 * policy answers win some games and lose others.
 */
function alpacaSlice(): string {
  const all = JSON.parse(
    readFileSync(join(SLICES, 'alpaca_eval_reference_gpt4_turbo_head.json'), 'utf8'),
  ) as {
    instruction: string;
    output: string;
  }[];
  const rows = all
    .slice(0, PROMPTS)
    .map((r, i) => ({ ...r, output: i % 2 ? r.output.slice(0, 9) : r.output }));
  const path = join(dir, 'alpaca.json');
  writeFileSync(path, JSON.stringify(rows, null, 2));
  return path;
}

function arenaSlice(): { questions: string; baseline: string } {
  const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n');
  const questions = lines(join(SLICES, 'arena_hard_question_head.jsonl')).slice(0, PROMPTS);
  const uids = new Set(questions.map((q) => (JSON.parse(q) as { uid: string }).uid));
  const answers = lines(join(SLICES, 'arena_hard_gpt-4-0314_head.jsonl'))
    .map((l) => JSON.parse(l) as { uid: string; messages: { content: unknown }[] })
    .filter((a) => uids.has(a.uid))
    .map((a, i) => {
      const answer = (a.messages[1]!.content as { answer: string }).answer;
      a.messages[1]!.content = { answer: i % 3 === 0 ? answer.slice(0, 12) : answer };
      return JSON.stringify(a);
    });
  assert.equal(answers.length, PROMPTS);
  writeFileSync(join(dir, 'question.jsonl'), questions.join('\n') + '\n');
  writeFileSync(join(dir, 'gpt-4-0314.jsonl'), answers.join('\n') + '\n');
  return { questions: join(dir, 'question.jsonl'), baseline: join(dir, 'gpt-4-0314.jsonl') };
}

function suitesConfig() {
  const endpoint = { ...demoConfig().policy.endpoint, baseUrl: fake.baseUrl, maxConcurrency: 3 };
  // The official judges, answered by the recording server (its replies include unreadable ones).
  const judgeEndpoint = { ...endpoint, baseUrl: recorder.baseUrl };
  const difficulty = join(dir, 'instruction_difficulty.csv');
  writeFileSync(
    difficulty,
    [
      'index,instruction_difficulty',
      ...Array.from({ length: PROMPTS }, (_, i) => `${i},${i / 4 - 0.5}`),
    ].join('\n'),
  );
  const arena = arenaSlice();
  const config = parseRunConfig({
    ...demoConfig(),
    evaluation: {
      ...demoConfig().evaluation,
      suites: [
        { name: 'arith', kind: 'accuracy', prompts: { kind: 'arithmetic', count: PROMPTS, seed: 5 } },
        {
          name: 'alpaca',
          kind: 'alpaca-eval',
          prompts: alpacaSlice(),
          judge: { endpoint: judgeEndpoint },
          difficulty,
          seed: 3,
        },
        {
          name: 'arena',
          kind: 'arena-hard',
          prompts: arena.questions,
          baseline: arena.baseline,
          judge: {
            endpoint: judgeEndpoint,
            config: join('test', 'fixtures', 'official-judges', 'arena-hard', 'judge_config.yaml'),
          },
        },
      ],
    },
  });
  return { config, endpoint };
}

/** Generation and scoring as the iteration runs them, shard by shard, for one suite. */
async function runSuite(suite: Suite, deps = defaultDeps()) {
  const { config, endpoint } = suitesConfig();
  const env = new MockActivityEnvironment();
  const activities = createActivities(deps);
  const run = <I, O>(activity: (input: I) => Promise<O>, input: I): Promise<O> => env.run(activity, input);
  const scope = (step: string) => ({
    runId: 'suites',
    iteration: 1,
    dir: join(dir, 'run', `suite-${suite.name}`, step),
    indexes: [join(dir, 'run', 'cas')],
  });
  const source =
    suite.kind === 'accuracy'
      ? suite.prompts
      : { kind: 'file' as const, path: suite.prompts, format: suite.kind, limit: suite.limit };
  const prompts = await run(activities.loadPrompts, { scope: scope(''), sources: [source], seedOffset: 0 });
  const judge = {
    ...config.judge,
    llm: { ...config.judge.llm!, endpoint },
    ...(suite.kind === 'accuracy' ? { verifier: suite.verifier } : {}),
  };
  const params = { samples: 1, temperature: 0, topP: 1, maxTokens: 32, seed: 0 };
  const policy = { endpoint, model: 'policy' };
  const shards: { shard: ShardRef; generations: Manifest[]; scores: Manifest }[] = [];
  for (let index = 0; index * SHARD < prompts.rows; index++) {
    const shard = {
      index,
      count: 2,
      prompts,
      start: index * SHARD,
      end: Math.min(prompts.rows, (index + 1) * SHARD),
    };
    const base = { shard, policy, params };
    const answers = await run(activities.sampleShard, { ...base, scope: scope('sample') });
    const { refinement } = config;
    const chain = { answers, chainDepth: strategy.depth, refinement };
    const refined = await run(activities.refineChain, { ...base, ...chain, scope: scope('refine') });
    const generations = [answers, refined];
    const scores = await run(activities.judgeShard, { scope: scope('judge'), shard, generations, judge });
    shards.push({ shard, generations, scores });
  }
  // One shard after the other (the workflow runs them concurrently), so a crash leaves nothing running.
  const judgeShards = async (s: Suite) => {
    const manifests: Manifest[] = [];
    if (s.kind === 'accuracy') return manifests;
    for (const { shard, generations, scores } of shards) {
      manifests.push(
        await run(activities.judgeSuiteShard, {
          scope: scope('verdicts'),
          suite: s,
          shard,
          generations,
          scores: [scores],
          rounds: ROUNDS,
          strategy,
        }),
      );
    }
    return manifests;
  };
  const verdicts = await judgeShards(suite);
  const summary = await run(activities.summarizeSuite, {
    scope: scope(''),
    suite,
    prompts,
    generations: shards.flatMap((s) => s.generations),
    scores: shards.map((s) => s.scores),
    verdicts,
    rounds: ROUNDS,
    strategy,
  });
  const rows = (await Promise.all(verdicts.map((m) => readManifestRows(m, 'verdict')))).flat();
  return { summary, rows, verdicts, judgeShards, shards, prompts };
}

const suiteNamed = (name: string) => suitesConfig().config.evaluation.suites!.find((s) => s.name === name)!;

test('AlpacaEval 2 suite: win rate, SE, counts and LC win rate per round are those of its annotations.json', async () => {
  const suite = suiteNamed('alpaca');
  const { summary, rows } = await runSuite(suite);
  assert.equal(rows.length, PROMPTS * (ROUNDS + 1), 'one verdict per prompt and round');
  assert.ok(rows.every((r) => r.status !== 'missing' && r.generationId !== null));
  // The order is alpaca_eval's draw per instruction, recorded.
  assert.ok(rows.every((r) => r.draw !== null && r.swapped === isSwitched(r.draw)));
  assert.equal(summary.headline, 'LC win rate');
  assert.match(summary.judge, /^official weighted_alpaca_eval_gpt4_turbo, judge gpt-4-1106-preview$/);
  assert.equal(summary.rounds.length, ROUNDS + 1);
  for (const round of summary.rounds) {
    const file = join(
      dir,
      'run',
      'suite-alpaca',
      'results',
      `run-r${round.round}`,
      'weighted_alpaca_eval_gpt4_turbo',
      'annotations.json',
    );
    const annotations = await readAlpacaAnnotations(file);
    assert.equal(annotations.length, PROMPTS);
    const expected = headToHead(annotations.map((a) => a.preference));
    const lc = lengthControlledWinRate(
      annotations.map((a) => ({
        preference: a.preference,
        referenceLength: a.referenceLength!,
        modelLength: a.modelLength!,
        difficulty: a.position / 4 - 0.5,
      })),
    ).lengthControlledWinRate;
    for (const [k, v] of Object.entries({ ...expected, lengthControlledWinRate: lc }))
      assert.ok(
        Math.abs(round.metrics[k]! - v) < 1e-9,
        `round ${round.round} ${k}: ${round.metrics[k]} vs ${v}`,
      );
    assert.ok(Math.abs(round.value! - lc) < 1e-9);
  }
});

test('Arena-Hard suite: two swapped games per prompt and round; the score and interval are those of its model_judgment files', async () => {
  const suite = suiteNamed('arena');
  const { summary, rows } = await runSuite(suite);
  assert.equal(rows.length, PROMPTS * (ROUNDS + 1));
  assert.ok(rows.every((r) => r.games.length === 2));
  assert.equal(summary.headline, 'score vs baseline');
  assert.match(summary.judge, /^official arena-hard-v0.1 judge, judge gpt-4-1106-preview$/);
  for (const round of summary.rounds) {
    const file = join(
      dir,
      'run',
      'suite-arena',
      'model_judgment',
      'gpt-4-1106-preview',
      `run-r${round.round}.jsonl`,
    );
    const judgments = await readArenaHardJudgments([file], 'gpt-4-0314');
    assert.equal(judgments.length, PROMPTS);
    const [expected] = arenaHardScores(judgments, { baseline: 'gpt-4-0314', rounds: 100, seed: 42 });
    for (const k of ['score', 'lower', 'upper', 'wins', 'losses', 'ties', 'invalid'] as const)
      assert.ok(Math.abs(round.metrics[k]! - expected![k]) < 1e-9, `round ${round.round} ${k}`);
    assert.equal(round.value, expected!.score);
  }
});

test('accuracy suite: the verifier headline and each extractor, direct vs refine@k', async () => {
  const suite = suiteNamed('arith');
  const { summary, shards, prompts } = await runSuite(suite);
  const gold = new Map((await readManifestRows(prompts, 'prompt')).map((p) => [p.id, p.answer!]));
  const generations = (
    await Promise.all(shards.flatMap((s) => s.generations).map((m) => readManifestRows(m, 'generation')))
  ).flat();
  for (const round of summary.rounds) {
    const kept = generations.filter((g) => g.step === round.round + 1);
    assert.equal(kept.length, PROMPTS);
    const items = kept.map((g) => ({ response: g.text, gold: gold.get(g.promptId)! }));
    const correct = items.filter((i) => verifiers.numeric(i.response, i.gold).correct).length;
    assert.equal(round.value, (100 * correct) / PROMPTS);
    for (const e of accuracyByExtractor('gsm8k', items))
      assert.equal(round.metrics[`accuracy:${e.extractor}`], 100 * e.accuracy);
  }
  // The double answers refinements right and first answers right for even seeds only.
  assert.equal(summary.rounds[1]!.value, 100);
  assert.ok(summary.rounds[0]!.value! < 100);
});

test('a pairwise suite shard resumes after a crash without asking the judge twice, and a rerun reuses it', async () => {
  const alpaca = suiteNamed('alpaca') as Extract<Suite, { kind: 'alpaca-eval' }>;
  // One verdict at a time: no request is in flight when the crash hits.
  const endpoint = { ...alpaca.judge.endpoint, maxConcurrency: 1 };
  const suite: Suite = { ...alpaca, name: 'resume', judge: { ...alpaca.judge, endpoint } };
  const real = defaultDeps();
  let asked = 0;
  let crashAfter = 3;
  const deps = {
    chatFor: (model: Parameters<typeof real.chatFor>[0]) => {
      const chat = real.chatFor(model);
      const exact = chat.exact!;
      return Object.assign((request: Parameters<typeof chat>[0]) => chat(request), {
        exact: async (request: Parameters<typeof exact>[0]) => {
          if (crashAfter-- === 0) throw new Error('injected crash mid-shard');
          const reply = await exact(request);
          asked++;
          return reply;
        },
      });
    },
  };
  await assert.rejects(runSuite(suite, deps), /injected crash mid-shard/);
  const { rows, verdicts, judgeShards } = await runSuite(suite, deps);
  assert.equal(rows.length, PROMPTS * (ROUNDS + 1));
  assert.ok(crashAfter < 0, 'the crash was injected');
  assert.equal(asked, rows.length, 'one judge request per row: no verdict was paid for twice');
  const again = await judgeShards(suite);
  assert.deepEqual(
    again.map((m) => [m.sha256, m.reused]),
    verdicts.map((m) => [m.sha256, true]),
  );
  assert.equal(asked, rows.length, 'the rerun asked nothing');
});
