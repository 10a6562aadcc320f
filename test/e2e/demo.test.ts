import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import type { z } from 'zod';
import { connectClient, startRun } from '../../client/run.js';
import type { RunConfig } from '../../core/config.js';
import { RecordSchemas, type RecordSchemaName } from '../../core/records.js';
import type { RunResult } from '../../core/steps.js';
import {
  modelBaseUrl,
  readPid,
  stackDown,
  stackUp,
  startService,
  stackTemporal,
} from '../../deploy/stack.js';
import { demoConfig } from '../support/config.js';
import { occupyPorts, WELL_KNOWN_PORTS } from '../support/ports.js';
import { privateStack } from '../support/private-stack.js';
import { reapOnExit } from '../support/processes.js';
import { scratchDir } from '../support/scratch.js';

// The real embedded stack: Temporal dev server, `transformers serve` with SmolLM2-135M, a worker
// process, and `trl dpo` on CPU. The worker is killed with SIGKILL in the middle of a shard.
// Ports from the OS, its own state directory, workflow id and task queue: a stack left over on this
// machine, or a stranger on the default ports (held here for the whole test), is never adopted.
const runId = `e2e-${randomBytes(4).toString('hex')}`;
const settings = await privateStack('e2e', runId);
const log = (line: string) => console.log(`# ${line}`);
let strangers: Awaited<ReturnType<typeof occupyPorts>> | undefined;

before(async () => {
  reapOnExit();
  strangers = await occupyPorts(WELL_KNOWN_PORTS);
  log(`strangers listen on ${strangers.held.join(', ') || 'none (all taken already)'}`);
  await stackUp(settings, log);
});
after(async () => {
  await stackDown(settings, log);
  await strangers?.release();
});

function tinyConfig(artifactRoot: string): RunConfig {
  const base = demoConfig();
  const endpoint = { ...base.policy.endpoint, baseUrl: modelBaseUrl(settings) };
  return {
    ...base,
    runId,
    artifactRoot,
    policy: { ...base.policy, endpoint },
    prompts: [
      { kind: 'arithmetic', count: 4, seed: 5, maxOperand: 9 },
      { kind: 'file', path: 'deploy/demo/instructions.jsonl', limit: 1 },
    ],
    shardSize: 3,
    sampling: { ...base.sampling, samples: 2, chainDepth: 2, maxTokens: 32 },
    judge: { ...base.judge, llm: { ...base.judge.llm!, endpoint } },
    // A 135M model is rarely right on arithmetic, so max-min may find no pair in 5 prompts; the
    // rule-based selection always yields data, which is what the trainer step needs here.
    pairing: { ...base.pairing, rule: 'last-vs-first' },
    trainer: { ...base.trainer, maxLength: 128 },
    evaluation: {
      ...base.evaluation,
      prompts: { kind: 'arithmetic', count: 3, seed: 77, maxOperand: 9 },
      maxTokens: 32,
    },
  };
}

/** The rows of every JSONL output in `dir` (or of `only`), parsed with the record schema `name`. */
function rows<N extends RecordSchemaName>(
  dir: string,
  name: N,
  only?: string,
): z.infer<(typeof RecordSchemas)[N]>[] {
  const files = readdirSync(dir).filter((f) => (only ? f === only : f.endsWith('.jsonl')));
  assert.ok(files.length > 0, `${dir} has outputs`);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.journal')),
    [],
    `${dir}: journals are folded into outputs`,
  );
  return files.flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .trim()
      .split('\n')
      .map((l) => RecordSchemas[name].parse(JSON.parse(l)) as z.infer<(typeof RecordSchemas)[N]>),
  );
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

function jobDirs(root: string): string[] {
  const dir = join(root, runId, 'iter-1', 'train', 'checkpoint');
  return existsSync(dir) ? readdirSync(dir).map((d) => join(dir, d)) : [];
}

function killWorker(why: string): void {
  const pid = readPid(settings, 'worker')!;
  process.kill(pid, 'SIGKILL');
  log(`killed worker ${pid} ${why}; restarting it`);
}

test('a demo iteration survives kill -9 of its worker (mid-shard and mid-training) and trains a checkpoint the server then serves', async (t) => {
  const root = scratchDir('evolve-e2e-', t);
  const config = tinyConfig(root);
  const client = await connectClient(stackTemporal(settings));
  try {
    const handle = await startRun(client, config, settings.taskQueue);
    const sampleDir = join(root, runId, 'iter-1', 'train', 'sample');
    const journalled = () =>
      existsSync(sampleDir) &&
      readdirSync(sampleDir).some(
        (f) => f.endsWith('.journal') && readFileSync(join(sampleDir, f), 'utf8').length > 0,
      );
    await waitFor('a sample shard to journal its first rows', journalled, 300_000);
    killWorker('mid-shard');
    await sleep(500);
    startService(settings, 'worker');

    // Again while the trainer runs: the restarted worker must re-attach to it, not start a second job.
    const jobFile = () =>
      jobDirs(root)
        .map((d) => join(d, 'job.json'))
        .find((f) => existsSync(f));
    await waitFor('training to be submitted', () => jobFile() !== undefined, 900_000);
    killWorker('during training');
    await sleep(500);
    startService(settings, 'worker');

    const result: RunResult = await handle.result();
    const dir = join(root, runId, 'iter-1');
    const prompts = 5;
    const sample = rows(join(dir, 'train', 'sample'), 'generation');
    const refine = rows(join(dir, 'train', 'refine'), 'generation');
    const judge = rows(join(dir, 'train', 'judge'), 'score');
    assert.equal(sample.length, prompts * 2);
    assert.equal(refine.length, prompts * 2);
    const keys = [...sample, ...refine].map((g) => `${g.promptId}/${g.chain}/${g.step}`);
    assert.equal(new Set(keys).size, keys.length, 'no duplicated generation after the crash');
    assert.equal(judge.length, keys.length);
    assert.ok(
      judge.some((s) => s.judge.startsWith('verifier')) && judge.some((s) => s.judge.startsWith('llm')),
    );
    const pairs = rows(join(dir, 'train', 'pairs'), 'pair', 'pairs.jsonl');
    assert.equal(pairs.length, result.iterations[0]!.steps.find((s) => s.step === 'pair')!.rows);

    assert.equal(jobDirs(root).length, 1, 'one training job directory');
    const job = JSON.parse(readFileSync(jobFile()!, 'utf8')) as { attempt: number };
    assert.equal(job.attempt, 1, 'the trainer was launched once and re-attached after the crash');
    assert.equal(readFileSync(join(jobDirs(root)[0]!, 'exit_code'), 'utf8').trim(), '0');
    const checkpoint = result.iterations[0]!.checkpoint;
    assert.ok(existsSync(join(checkpoint, 'model.safetensors')), `new checkpoint at ${checkpoint}`);
    const evaluation = result.iterations[0]!.evaluation;
    assert.equal(evaluation.prompts, 3);
    assert.equal(evaluation.accuracy.length, 2, 'direct and refine@1');
    const evalRows = rows(join(dir, 'eval', 'sample'), 'generation');
    assert.ok(
      evalRows.every((g) => g.model === checkpoint),
      'evaluation sampled the new checkpoint',
    );

    // The model server answers with the new checkpoint.
    const reply = await fetch(`${modelBaseUrl(settings)}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: checkpoint,
        messages: [{ role: 'user', content: 'Say hi.' }],
        max_tokens: 8,
      }),
    });
    assert.equal(reply.status, 200);
    const body = (await reply.json()) as { choices: { message: { content: string } }[] };
    assert.ok(body.choices[0]!.message.content.length > 0);
  } finally {
    await client.connection.close();
  }
});
