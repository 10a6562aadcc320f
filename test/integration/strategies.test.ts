import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { readManifestRows } from '../../storage/manifests.js';
import { createActivities } from '../../activities/index.js';
import type { StrategyName } from '../../core/config.js';
import type { GenerationRecord } from '../../core/records.js';
import { resolveStrategy, type Strategy } from '../../core/strategies.js';
import type { GenerationParams, ModelRef, ShardRef } from '../../core/steps.js';
import { templateHash } from '../../core/templates.js';
import { demoConfig } from '../support/config.js';
import { startFakeOpenAI, type FakeServer } from '../support/fake-openai.js';

// The real generation, judge and evaluation activities against the fake OpenAI server, which answers a
// first answer right for even seeds only and every refinement right; the verifier judges (gold answers).
let fake: FakeServer;
before(async () => {
  fake = await startFakeOpenAI();
});
after(async () => {
  await fake?.close();
});

const PROMPTS = 5;

async function runStrategy(name: StrategyName) {
  const config = demoConfig();
  const strategy = resolveStrategy(name, 3, 3);
  const dir = mkdtempSync(join(tmpdir(), `evolve-${name}-`));
  const scope = (step: string) => ({
    runId: 'st',
    iteration: 1,
    dir: join(dir, step),
    indexes: [join(dir, 'cas')],
  });
  const endpoint = { ...config.policy.endpoint, baseUrl: fake.baseUrl, maxConcurrency: 4 };
  const policy: ModelRef = { endpoint, model: 'policy' };
  const judge = { ...config.judge, llm: { ...config.judge.llm!, endpoint } };
  const params: GenerationParams = {
    samples: strategy.samples,
    temperature: 0.7,
    topP: 0.9,
    maxTokens: 32,
    seed: 5,
  };
  const activities = createActivities();
  const env = new MockActivityEnvironment();
  const run = <I, O>(activity: (input: I) => Promise<O>, input: I): Promise<O> => env.run(activity, input);
  const prompts = await run(activities.loadPrompts, {
    scope: scope('eval'),
    sources: [{ kind: 'arithmetic', count: PROMPTS, seed: 11, maxOperand: 9 }],
    seedOffset: 0,
  });
  const shard: ShardRef = { index: 0, count: 1, prompts, start: 0, end: PROMPTS };
  const answers = await run(activities.sampleShard, { scope: scope('sample'), shard, policy, params });
  const generations = [answers];
  if (strategy.depth > 1) {
    generations.push(
      await run(activities.refineChain, {
        scope: scope('refine'),
        shard,
        policy,
        params,
        answers,
        chainDepth: strategy.depth,
        refinement: config.refinement,
      }),
    );
  }
  const scores = await run(activities.judgeShard, { scope: scope('judge'), shard, generations, judge });
  const evaluation = await run(activities.summarizeEvaluation, {
    scope: scope('eval'),
    prompts,
    generations,
    scores: [scores],
    rounds: strategy.depth - 1,
    strategy,
  });
  const rows = (await Promise.all(generations.map((m) => readManifestRows(m, 'generation')))).flat();
  return { strategy, rows, evaluation, hash: templateHash(config.refinement) };
}

/** Every response of the N x K trajectory, each linked to the response it refines. */
function assertTrajectory(rows: GenerationRecord[], strategy: Strategy, hash: string) {
  const byKey = new Map(rows.map((g) => [`${g.promptId}/${g.chain}/${g.step}`, g]));
  assert.equal(
    rows.length,
    PROMPTS * strategy.samples * strategy.depth,
    `${strategy.name}: N x K per prompt`,
  );
  assert.equal(byKey.size, rows.length, 'one record per (prompt, chain, step)');
  for (const g of rows) {
    assert.ok(g.chain < strategy.samples && g.step <= strategy.depth);
    assert.deepEqual(
      [g.model, g.temperature, g.topP, g.maxTokens, g.finishReason],
      ['policy', 0.7, 0.9, 32, 'stop'],
    );
    assert.ok(g.usage && g.usage.completionTokens > 0 && g.latencyMs >= 0 && Number.isInteger(g.seed));
    if (g.step === 1) {
      assert.deepEqual([g.parentId, g.templateHash], [null, null], 'a first answer has no parent');
    } else {
      const parent = byKey.get(`${g.promptId}/${g.chain}/${g.step - 1}`);
      assert.equal(g.parentId, parent?.id, 'a refinement links to the previous step of its chain');
      assert.equal(g.templateHash, hash);
    }
  }
}

/** The double answers first answers right for even seeds: the share of prompts with a right one among `chains`. */
function shareRight(rows: GenerationRecord[], chains: number) {
  const right = new Set(
    rows.filter((g) => g.step === 1 && g.chain < chains && g.seed % 2 === 0).map((g) => g.promptId),
  );
  return right.size / PROMPTS;
}

test('direct: one answer per prompt, scored as is', async () => {
  const { strategy, rows, evaluation, hash } = await runStrategy('direct');
  assertTrajectory(rows, strategy, hash);
  assert.deepEqual(evaluation.accuracy, [shareRight(rows, 1)]);
  assert.deepEqual(evaluation.strategy, strategy);
});

test('parallel: N answers per prompt, the best by the judge is scored (best-of-N)', async () => {
  const { strategy, rows, evaluation, hash } = await runStrategy('parallel');
  assertTrajectory(rows, strategy, hash);
  assert.deepEqual(evaluation.accuracy, [shareRight(rows, 3)]);
  assert.ok(shareRight(rows, 3) > shareRight(rows, 1), 'the fixture makes best-of-3 beat one sample');
  // evaluation.json names the kept response of every prompt: a right one wherever a chain got it right.
  const { kept } = JSON.parse(readFileSync(evaluation.uri, 'utf8')) as {
    kept: { promptId: string; round: number; generationId: string; score: number }[];
  };
  assert.equal(kept.length, PROMPTS);
  const seedOf = new Map(rows.map((g) => [g.id, g.seed]));
  for (const k of kept) {
    const anyRight = rows.some((g) => g.promptId === k.promptId && g.seed % 2 === 0);
    assert.equal(k.score, anyRight ? 1 : 0);
    assert.equal(seedOf.get(k.generationId)! % 2 === 0, anyRight);
  }
});

test('chain: one chain of depth K, its latest response is scored per round', async () => {
  const { strategy, rows, evaluation, hash } = await runStrategy('chain');
  assertTrajectory(rows, strategy, hash);
  assert.deepEqual(evaluation.accuracy, [shareRight(rows, 1), 1, 1]);
  assert.ok(shareRight(rows, 1) < 1);
});

test('parallel-refine: N answers each refined once, the best refined answer is scored', async () => {
  const { strategy, rows, evaluation, hash } = await runStrategy('parallel-refine');
  assertTrajectory(rows, strategy, hash);
  assert.deepEqual(evaluation.accuracy, [shareRight(rows, 3), 1]);
});

test('tree: N chains of depth K, the best response so far is scored per round', async () => {
  const { strategy, rows, evaluation, hash } = await runStrategy('tree');
  assertTrajectory(rows, strategy, hash);
  assert.deepEqual(evaluation.accuracy, [shareRight(rows, 3), 1, 1]);
});
