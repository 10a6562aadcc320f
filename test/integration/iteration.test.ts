import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { defaultDeps, type ActivityDeps } from '../../activities/index.js';
import type { RunConfig } from '../../core/config.js';
import type { RunResult } from '../../core/steps.js';
import { createEvolveWorker } from '../../workers/worker.js';
import { tinyConfig } from '../support/config.js';
import { startFakeOpenAI, type FakeServer } from '../support/fake-openai.js';
import { useDevServer } from '../support/dev-server.js';
import { scratchDir } from '../support/scratch.js';

// A real dev server, a real worker with the real activities and a real `trl dpo` on CPU; only the
// inference server is a double, to inject 5xx, 429s and a crash in the middle of a shard.
const server = useDevServer();
let fake: FakeServer;

before(async () => {
  fake = await startFakeOpenAI({ serverErrorEvery: 7, rateLimitEvery: 5 });
});
after(async () => {
  await fake?.close();
});

function itConfig(artifactRoot: string): RunConfig {
  const base = tinyConfig(fake.baseUrl, artifactRoot, 'it');
  return {
    ...base,
    prompts: [{ kind: 'arithmetic', count: 6, seed: 3, maxOperand: 9 }],
    sampling: { ...base.sampling, samples: 2, chainDepth: 3 },
    evaluation: { ...base.evaluation, prompts: { kind: 'arithmetic', count: 4, seed: 99, maxOperand: 9 } },
  };
}

const rowsOf = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test('one iteration completes through injected faults and a mid-shard crash, with exactly-once rows', async (t) => {
  const root = scratchDir('evolve-it-', t);
  const config = itConfig(root);
  // The first attempt of a refine shard dies after 3 replies, as a killed worker would.
  const real = defaultDeps();
  let repliesBeforeCrash = 3;
  const served = new Map<string, number>();
  const deps: ActivityDeps = {
    chatFor: (model) => {
      const chat = real.chatFor(model);
      return async (request) => {
        const isRefine = request.messages.length === 3;
        if (isRefine && repliesBeforeCrash-- === 0) throw new Error('injected crash mid-shard');
        const reply = await chat(request);
        const key = JSON.stringify([request.model, request.messages, request.seed]);
        served.set(key, (served.get(key) ?? 0) + 1);
        return reply;
      };
    },
  };
  const worker = await createEvolveWorker({
    connection: server.env.nativeConnection,
    taskQueue: 'it',
    deps,
    workflowBundle: server.bundle,
  });
  const result: RunResult = await worker.runUntil(
    server.env.client.workflow.execute('evolveRun', { taskQueue: 'it', workflowId: 'it', args: [config] }),
  );

  const dir = join(root, 'it', 'iter-1');
  const sample = [0, 1].flatMap((s) => rowsOf(join(dir, 'train', 'sample', `shard-${s}.jsonl`)));
  const refine = [0, 1].flatMap((s) => rowsOf(join(dir, 'train', 'refine', `shard-${s}.jsonl`)));
  const judge = [0, 1].flatMap((s) => rowsOf(join(dir, 'train', 'judge', `shard-${s}.jsonl`)));
  assert.equal(sample.length, 6 * 2, 'N answers per prompt');
  assert.equal(refine.length, 6 * 2 * 2, 'K-1 refinements per chain');
  const keys = [...sample, ...refine].map((g) => `${g.promptId}/${g.chain}/${g.step}`);
  assert.equal(new Set(keys).size, keys.length, 'one record per (prompt, chain, step)');
  assert.equal(judge.length, keys.length, 'every response judged');
  assert.ok(refine.every((g) => typeof g.parentId === 'string' && typeof g.templateHash === 'string'));
  assert.ok(repliesBeforeCrash < 0, 'the crash was injected');
  assert.deepEqual(
    [...served.values()].filter((n) => n > 1),
    [],
    'no request was paid for twice',
  );
  assert.ok(fake.requests.failed > 0, 'faults were injected');

  const pairs = rowsOf(join(dir, 'train', 'pairs', 'pairs.jsonl'));
  assert.ok(pairs.length > 0 && pairs.length % 2 === 0, 'a direct and a refinement pair per selected prompt');
  assert.deepEqual(new Set(pairs.map((p) => p.kind)), new Set(['direct', 'refinement']));

  const checkpoint = result.iterations[0]!.checkpoint;
  assert.ok(
    existsSync(join(checkpoint, 'config.json')) && existsSync(join(checkpoint, 'model.safetensors')),
    'a new checkpoint',
  );
  assert.equal(result.finalModel, checkpoint);
  assert.ok(
    (fake.requests.byModel.get(checkpoint) ?? 0) >= 1 + 4 * 2,
    'serve probe and evaluation used the new checkpoint',
  );
  // The double answers refinements right and first answers right only for even seeds.
  const [direct, refined] = result.iterations[0]!.evaluation.accuracy;
  assert.equal(refined, 1);
  assert.ok(direct! < 1);
  const steps = result.iterations[0]!.steps.map((s) => s.step);
  assert.deepEqual(steps, [
    'train:prompts',
    'train:sample',
    'train:refine',
    'train:judge',
    'pair',
    'train',
    'eval:sample',
    'eval:refine',
    'eval:judge',
    'evaluate',
  ]);
});

function findJobFile(dir: string): string | null {
  if (!existsSync(dir)) return null;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isFile() && entry.name === 'job.json') return path;
    if (entry.isDirectory()) {
      const found = findJobFile(path);
      if (found) return found;
    }
  }
  return null;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('cancelling a run while it trains stops the trainer: no job is left behind', async (t) => {
  const root = scratchDir('evolve-cancel-', t);
  const base = itConfig(root);
  // Cancellation reaches the activity with a heartbeat, up to 80 % of its 1-minute timeout later: the
  // training must outlast that, or it may finish first (as it did once under load).
  const config = { ...base, runId: 'cancel', trainer: { ...base.trainer, epochs: 200 } };
  const worker = await createEvolveWorker({
    connection: server.env.nativeConnection,
    taskQueue: 'cancel',
    workflowBundle: server.bundle,
  });
  await worker.runUntil(async () => {
    const handle = await server.env.client.workflow.start('evolveRun', {
      taskQueue: 'cancel',
      workflowId: 'cancel',
      args: [config],
    });
    let jobFile: string | null = null;
    for (let i = 0; i < 600 && !jobFile; i++) {
      jobFile = findJobFile(root);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(jobFile, 'training was submitted');
    const { pid } = JSON.parse(readFileSync(jobFile, 'utf8')) as { pid: number };
    assert.ok(alive(pid), 'the trainer runs');
    await handle.cancel();
    await assert.rejects(
      handle.result(),
      (err: unknown) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure,
    );
    assert.equal(alive(pid), false, 'the trainer process group was killed before the run reported cancelled');
    assert.equal(existsSync(join(jobFile, '..', 'exit_code')), false, 'the job did not run to completion');
  });
});
