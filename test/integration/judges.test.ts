import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { defaultDeps } from '../../activities/index.js';
import { createJudgeActivities } from '../../activities/judge.js';
import { writeJsonlWithManifest } from '../../storage/jsonl-writer.js';
import { JudgeSchema, type Judge } from '../../core/config.js';
import { parseJudgeScore } from '../../core/verify.js';
import type { GenerationRecord, Manifest, PromptRecord, ScoreRecord } from '../../core/records.js';
import type { JudgeShardInput } from '../../core/steps.js';
import { startFakeOpenAI, type FakeServer } from '../support/fake-openai.js';
import { fakeReward, startFakeRewardModel } from '../support/fake-reward-model.js';
import { startModelServer } from '../support/model-server.js';
import { quietRuntime } from '../support/quiet.js';

// The judge step with real HTTP servers: a TS double of vLLM's pooling API and OpenRLHF's reward
// server (no GPU vLLM here), the fault-injecting chat double, and the real embedded model as judge.
let chat: FakeServer;
before(async () => {
  quietRuntime();
  chat = await startFakeOpenAI();
});
after(async () => {
  await chat?.close();
});

const prompts: PromptRecord[] = [
  { id: 'q1', prompt: 'Write a haiku about rain.' },
  { id: 'q2', prompt: 'Name three primes.' },
  { id: 'q3', prompt: 'What is 2+3?', answer: '5' },
];
const texts: Record<string, string[]> = {
  q1: ['Rain.', 'Soft rain on the roof, puddles hold a grey sky, the street sleeps', 'Rain falls.'],
  q2: ['2, 3, 5', 'Two, three and five are prime numbers, the smallest three of them.', '2 3 5'],
  q3: ['It is 5.', 'The answer is 6.', '5'],
};

function generation(promptId: string, i: number): GenerationRecord {
  return {
    id: `${promptId}/${i % 2}/${i < 2 ? 1 : 2}`,
    promptId,
    chain: i % 2,
    step: i < 2 ? 1 : 2,
    parentId: null,
    text: texts[promptId]![i]!,
    finishReason: 'stop',
    usage: null,
    model: 'policy',
    temperature: 1,
    maxTokens: 64,
    seed: 0,
    templateHash: null,
    latencyMs: 1,
    flags: [],
  };
}

async function shardInput(judge: Judge): Promise<JudgeShardInput> {
  const root = mkdtempSync(join(tmpdir(), 'evolve-judges-'));
  const producedBy = { step: 'test', runId: 'r', iteration: 1 };
  const promptManifest = await writeJsonlWithManifest(
    join(root, 'prompts.jsonl'),
    'prompt',
    prompts,
    producedBy,
  );
  const gens = prompts.flatMap((p) => [0, 1, 2].map((i) => generation(p.id, i)));
  const genManifest = await writeJsonlWithManifest(join(root, 'gens.jsonl'), 'generation', gens, producedBy);
  return {
    scope: {
      runId: 'r',
      iteration: 1,
      dir: join(root, 'r', 'iter-1', 'train', 'judge'),
      indexes: [join(root, 'r', 'cas')],
    },
    shard: { index: 0, count: 1, prompts: promptManifest, start: 0, end: prompts.length },
    generations: [genManifest],
    judge,
  };
}

const scoresOf = (uri: string) =>
  readFileSync(uri, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ScoreRecord);

const judgeShard = (input: JudgeShardInput): Promise<Manifest> =>
  new MockActivityEnvironment().run(createJudgeActivities(defaultDeps()).judgeShard, input);

test('a reward model behind vLLM /classify judges from config alone; re-judging is free', async () => {
  const rm = await startFakeRewardModel();
  try {
    const cacheDir = mkdtempSync(join(tmpdir(), 'evolve-judge-cache-'));
    const judge = JudgeSchema.parse({
      kind: 'reward-model',
      cacheDir,
      rewardModel: {
        api: 'vllm-classify',
        endpoint: { baseUrl: rm.baseUrl },
        model: 'rm',
        input: 'text',
        chatTemplate: '<s>User: {prompt}\nAnswer: {response}',
        bosToken: '<s>',
        batchSize: 4,
      },
    });
    const manifest = await judgeShard(await shardInput(judge));
    const scores = scoresOf(manifest.uri);
    assert.equal(scores.length, 9);
    for (const s of scores) {
      const text =
        texts[s.promptId]![[0, 1, 2].find((i) => generation(s.promptId, i).id === s.generationId)!]!;
      if (s.promptId === 'q3') {
        assert.equal(s.judge, 'verifier:numeric:flexible');
        assert.equal(s.score, text.includes('5') ? 1 : 0);
      } else {
        assert.equal(s.judge, 'rm:vllm-classify:rm');
        assert.equal(s.status, 'ok');
        assert.ok(Math.abs(s.score! - fakeReward(text)) < 1e-9, 'the raw logit, not a sigmoid');
      }
    }
    const inputs = rm.requests.flatMap((r) => r.body.input as string[]);
    assert.equal(inputs.length, 6, 'one input per response without a gold answer');
    assert.ok(rm.requests.every((r) => r.path === '/classify' && r.body.use_activation === false));
    assert.ok(
      rm.requests.every((r) => (r.body.input as string[]).length <= 4),
      'batches of batchSize',
    );
    assert.ok(
      inputs.every((t) => t.startsWith('User: ')),
      'the BOS is left to the server tokenizer',
    );

    // Another run (a new step directory) with the same judge: every verdict comes from the cache.
    const again = await judgeShard(await shardInput(judge));
    assert.equal(rm.requests.length, 2, 'no new request');
    assert.equal(again.stats.cacheHits, 6);
    assert.deepEqual(
      scoresOf(again.uri).map((s) => s.score),
      scores.map((s) => s.score),
    );
  } finally {
    await rm.close();
  }
});

test('vLLM /classify with chat messages, /pooling and OpenRLHF /get_reward speak their own shapes', async () => {
  const rm = await startFakeRewardModel();
  try {
    const cases = [
      { api: 'vllm-classify', input: 'messages' },
      { api: 'vllm-pooling', input: 'text', chatTemplate: 'User: {prompt}\nAnswer: {response}' },
      {
        api: 'openrlhf',
        chatTemplate: '<|begin_of_text|>User: {prompt}\nAnswer: {response}',
        bosToken: '<|begin_of_text|>',
      },
    ];
    for (const rewardModel of cases) {
      const before = rm.requests.length;
      const judge = JudgeSchema.parse({
        kind: 'reward-model',
        rewardModel: { ...rewardModel, endpoint: { baseUrl: rm.baseUrl }, model: 'rm' },
      });
      const scores = scoresOf((await judgeShard(await shardInput(judge))).uri).filter(
        (s) => s.promptId !== 'q3',
      );
      assert.deepEqual(
        scores.map((s) => s.score),
        scores.map((s) =>
          fakeReward(texts[s.promptId]!.find((_, i) => generation(s.promptId, i).id === s.generationId)!),
        ),
        rewardModel.api,
      );
      const sent = rm.requests.slice(before);
      if (rewardModel.input === 'messages') {
        assert.equal(sent.length, 6, 'a chat request per conversation');
        assert.deepEqual(
          (sent[0]!.body.messages as { role: string }[]).map((m) => m.role),
          ['user', 'assistant'],
        );
      }
      if (rewardModel.api === 'openrlhf') {
        assert.ok(sent.every((r) => r.path === '/get_reward' && Array.isArray(r.body.query)));
        assert.ok(sent.flatMap((r) => r.body.query as string[]).every((q) => q.startsWith('User: ')));
      }
    }
  } finally {
    await rm.close();
  }
});

test('unreadable replies are retried, then recorded as unparseable; a stalled judge as an error; never a 0', async () => {
  const malformed = await startFakeRewardModel({ malformedEvery: 1 });
  const stalled = await startFakeRewardModel({ stallEvery: 1, stallMs: 2500 });
  try {
    const judgeOf = (baseUrl: string) =>
      JudgeSchema.parse({
        kind: 'reward-model',
        rewardModel: {
          api: 'vllm-classify',
          endpoint: { baseUrl, requestTimeoutMs: 1000 },
          input: 'text',
          chatTemplate: 'User: {prompt}\nAnswer: {response}',
          batchSize: 8,
          attempts: 2,
        },
      });
    const bad = scoresOf((await judgeShard(await shardInput(judgeOf(malformed.baseUrl)))).uri);
    const judged = bad.filter((s) => s.promptId !== 'q3');
    assert.ok(judged.every((s) => s.status === 'unparseable' && s.score === null && s.raw?.includes('oops')));
    assert.equal(malformed.requests.length, 2, 'one batch, asked twice');
    const slow = scoresOf((await judgeShard(await shardInput(judgeOf(stalled.baseUrl)))).uri);
    assert.ok(
      slow.filter((s) => s.promptId !== 'q3').every((s) => s.status === 'error' && s.score === null),
      'timeouts are recorded as errors',
    );
  } finally {
    await malformed.close();
    await stalled.close();
  }
});

test('a 5xx is waited out within the attempt; a judge step that fails mid-shard resumes without asking twice', async () => {
  const flaky = await startFakeRewardModel({ serverErrorEvery: 4 });
  const steady = await startFakeRewardModel();
  try {
    const judgeOn = (baseUrl: string) =>
      JudgeSchema.parse({
        kind: 'reward-model',
        rewardModel: { api: 'vllm-classify', endpoint: { baseUrl, maxConcurrency: 1 }, input: 'messages' },
      });
    const once = await judgeShard(await shardInput(judgeOn(flaky.baseUrl)));
    assert.equal(once.rows, 9);
    assert.equal(flaky.requests.length, 6 + 1, 'six items, the one 500 asked again');

    // The third request is refused (a 4xx fails the attempt at once); the retry asks only the rest.
    const input = await shardInput(judgeOn(steady.baseUrl));
    let calls = 0;
    const refusing: typeof fetch = (url, init) =>
      ++calls === 3 ? Promise.resolve(new Response('{"error":"bad"}', { status: 400 })) : fetch(url, init);
    const run = (fetchFn: typeof fetch): Promise<Manifest> =>
      new MockActivityEnvironment().run(
        createJudgeActivities({ ...defaultDeps(), fetch: fetchFn }).judgeShard,
        input,
      );
    await assert.rejects(run(refusing), /answered 400/);
    assert.equal(steady.requests.length, 2);
    const manifest = await run(fetch);
    assert.equal(manifest.rows, 9);
    assert.equal(steady.requests.length, 6, 'only the four unfinished ones asked again');
  } finally {
    await flaky.close();
    await steady.close();
  }
});

test('pairwise LLM judges: Arena-Hard verdicts in both orders, AlpacaEval label logprobs', async () => {
  for (const mode of ['pairwise-verdict', 'pairwise-logprobs'] as const) {
    const judge = JudgeSchema.parse({
      kind: 'llm',
      llm: {
        endpoint: { baseUrl: chat.baseUrl },
        model: 'judge',
        mode,
        rubric: 'Compare the answers.',
        maxTokens: 64,
      },
    });
    const scores = scoresOf((await judgeShard(await shardInput(judge))).uri).filter(
      (s) => s.promptId !== 'q3',
    );
    for (const s of scores) {
      assert.equal(s.judge, `llm:${mode}:judge`);
      const i = [0, 1, 2].find((k) => generation(s.promptId, k).id === s.generationId)!;
      const [text, anchor] = [texts[s.promptId]![i]!, texts[s.promptId]![0]!];
      // The double prefers the longer answer; the anchor (first answer of chain 0) scores an even 0.5.
      const expected =
        i === 0
          ? 0.5
          : mode === 'pairwise-verdict'
            ? text.length > anchor.length
              ? 1
              : text.length === anchor.length
                ? 0.5
                : 0
            : text.length >= anchor.length
              ? 0.8 / 0.95
              : 0.15 / 0.95;
      assert.ok(Math.abs(s.score! - expected) < 1e-9, `${mode} ${s.generationId}: ${s.score} vs ${expected}`);
    }
  }
});

// SmolLM2-135M rarely follows a rubric (it mostly answers the question itself): what this checks is
// the protocol with a real server and that every unreadable reply is recorded as such, never a score.
test(
  'the embedded model (transformers serve, SmolLM2) as pointwise judge',
  { timeout: 600_000 },
  async () => {
    const server = await startModelServer();
    try {
      const judge = JudgeSchema.parse({
        kind: 'llm',
        llm: {
          endpoint: { baseUrl: server.baseUrl, maxConcurrency: 1 },
          model: server.model,
          rubric:
            'Rate the response from 1 to 10.\n\n[Question]\nWhat is the capital of France?\n\n[Response]\nParis.\n\nScore (1-10): 9',
          maxTokens: 8,
          attempts: 4,
        },
      });
      const scores = scoresOf((await judgeShard(await shardInput(judge))).uri).filter(
        (s) => s.promptId !== 'q3',
      );
      assert.equal(scores.length, 6);
      for (const s of scores) {
        assert.ok(s.raw !== null && s.judge === `llm:pointwise:${server.model}`);
        if (s.status === 'ok') assert.ok(s.score! >= 1 && s.score! <= 10);
        else assert.deepEqual([s.status, s.score], ['unparseable', null]);
      }
      // What the model said is what was parsed: a readable reply is a score, anything else is not.
      for (const s of scores) assert.equal(s.status === 'ok', parseJudgeScore(s.raw!, 10) !== null);
      const ok = scores.filter((s) => s.status === 'ok').length;
      console.log(`# SmolLM2 judge: ${ok}/6 readable; replies ${JSON.stringify(scores.map((s) => s.raw))}`);
    } finally {
      await server.stop();
    }
  },
);
