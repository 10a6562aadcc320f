import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseRunConfig, type RunConfig, type RunConfigInput } from '../../core/config.js';
import type { Manifest, ScoreRecord } from '../../core/records.js';
import type { RunResult } from '../../core/steps.js';
import { createEvolveWorker } from '../../workers/worker.js';
import { demoConfig } from '../support/config.js';
import { startFakeOpenAI, type FakeServer } from '../support/fake-openai.js';
import { startFakeRewardModel, type FakeRewardModel } from '../support/fake-reward-model.js';
import { baseModel, pythonBin } from '../support/paths.js';
import { useDevServer } from '../support/dev-server.js';

// Every judge kind in a real iteration, chosen by config alone: a real dev server, the real worker and
// activities, a real `trl dpo` on CPU. The policy and LLM judge are the chat double, the reward model
// the vLLM /classify double (no GPU here).
const server = useDevServer();
let chat: FakeServer;
let rm: FakeRewardModel;
/** Each run leaves a checkpoint with optimizer state (about 2 GB): removed when the file is done. */
const roots: string[] = [];

before(async () => {
  chat = await startFakeOpenAI();
  rm = await startFakeRewardModel();
});
after(async () => {
  await rm?.close();
  await chat?.close();
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function configFor(
  runId: string,
  judge: RunConfigInput['judge'],
  pairing: Partial<RunConfig['pairing']> = {},
) {
  const base = demoConfig();
  const endpoint = { ...base.policy.endpoint, baseUrl: chat.baseUrl };
  const artifactRoot = mkdtempSync(join(tmpdir(), `evolve-${runId}-`));
  roots.push(artifactRoot);
  return parseRunConfig({
    ...base,
    runId,
    artifactRoot,
    policy: { endpoint, baseModel },
    prompts: [
      { kind: 'arithmetic', count: 3, seed: 3, maxOperand: 9 },
      { kind: 'file', path: 'deploy/demo/instructions.jsonl', limit: 2 },
    ],
    shardSize: 5,
    sampling: { ...base.sampling, samples: 2, chainDepth: 2 },
    judge,
    pairing: { ...base.pairing, ...pairing },
    trainer: { ...base.trainer, python: pythonBin, maxLength: 128, batchSize: 2 },
    evaluation: { ...base.evaluation, prompts: { kind: 'arithmetic', count: 2, seed: 99, maxOperand: 9 } },
  });
}

const rowsIn = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as ScoreRecord),
    );

async function runIteration(config: RunConfig) {
  const worker = await createEvolveWorker({
    connection: server.env.nativeConnection,
    taskQueue: config.runId,
    workflowBundle: server.bundle,
  });
  const result: RunResult = await worker.runUntil(
    server.env.client.workflow.execute('evolveRun', {
      taskQueue: config.runId,
      workflowId: config.runId,
      args: [config],
    }),
  );
  const dir = join(config.artifactRoot, config.runId, 'iter-1');
  const scores = rowsIn(join(dir, 'train', 'judge'));
  const card = (
    JSON.parse(readFileSync(join(dir, 'train', 'pairs', 'pairs.jsonl.manifest.json'), 'utf8')) as Manifest
  ).stats;
  assert.ok(existsSync(join(result.iterations[0]!.checkpoint, 'model.safetensors')), 'a new checkpoint');
  assert.ok(
    existsSync(join(dir, 'train', 'pairs', 'sft.jsonl')) &&
      existsSync(join(dir, 'train', 'pairs', 'dpo-direct.jsonl')),
  );
  const open = scores.filter((s) => s.promptId.startsWith('open-'));
  assert.equal(open.length, 2 * 2 * 2, 'every response to an open prompt has a row');
  assert.ok(
    scores.filter((s) => s.promptId.startsWith('arith')).every((s) => s.judge.startsWith('verifier:numeric')),
  );
  return { open, card };
}

test('judge kind reward-model (vLLM /classify) from config alone', { timeout: 600_000 }, async () => {
  const config = configFor('it-rm', {
    kind: 'reward-model',
    rewardModel: { api: 'vllm-classify', endpoint: { baseUrl: rm.baseUrl }, model: 'rm' },
  });
  const { open, card } = await runIteration(config);
  assert.ok(
    open.every((s) => s.judge === 'rm:vllm-classify:rm' && s.status === 'ok' && typeof s.score === 'number'),
  );
  const asked = new Set(open.map((s) => s.generationId)).size;
  assert.ok(rm.requests.length > 0 && rm.requests.length <= asked, 'identical responses are asked once');
  assert.ok(card['pairsByRule.max-min']! > 0);
});

test(
  'judge kind llm, pairwise Arena-Hard verdicts, with max-random pairing',
  { timeout: 600_000 },
  async () => {
    const config = configFor(
      'it-pairwise',
      {
        kind: 'llm',
        llm: {
          endpoint: { baseUrl: chat.baseUrl },
          model: 'judge',
          mode: 'pairwise-verdict',
          rubric: 'Compare.',
          maxTokens: 64,
        },
      },
      { rule: 'max-random', margin: 0.5 },
    );
    const { open, card } = await runIteration(config);
    assert.ok(open.every((s) => s.judge === 'llm:pairwise-verdict:judge' && s.status === 'ok'));
    assert.ok(card['pairsByRule.max-random']! > 0);
  },
);

test('judge kind none: rule-based last-vs-first pairs', { timeout: 600_000 }, async () => {
  const config = configFor('it-none', { kind: 'none' }, { rule: 'last-vs-first' });
  const { open, card } = await runIteration(config);
  assert.ok(open.every((s) => s.judge === 'none' && s.status === 'skipped' && s.score === null));
  assert.ok(card['pairsByRule.last-vs-first']! > 0);
});
