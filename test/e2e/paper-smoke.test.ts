import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfigFile } from '../../client/config-file.js';
import { connectClient, onModelServer, startRun } from '../../client/run.js';
import { PairRecordSchema, PromptRecordSchema } from '../../core/records.js';
import type { RunResult } from '../../core/steps.js';
import { modelBaseUrl, stackTemporal } from '../../deploy/stack.js';
import { usePrivateStack } from '../support/private-stack.js';
import { scratchDir } from '../support/scratch.js';

// The paper-shaped preset at smoke size, deploy/configs/paper/cpu-smoke-evolve.yaml, run as it is
// (only its endpoints, run id and artifact root moved) on a real embedded stack of its own: stage 0
// SFT on the preset's preference set, iteration 0, fresh prompts from the pool, chain collection,
// LLM judge, direct + refinement pairs, `trl dpo`, evaluation with a benchmark suite.
const stamp = randomBytes(4).toString('hex');
const log = (line: string) => console.log(`# ${line}`);
const settings = await usePrivateStack('paper', `paper-smoke-${stamp}`, log);

const rowsOf = <T>(path: string, parse: (row: unknown) => T): T[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => parse(JSON.parse(line)));

test('the cpu-smoke EVOLVE preset runs stage 0, iteration 0 and iteration 1 end to end', async (t) => {
  const artifactRoot = scratchDir('evolve-paper-', t);
  const preset = loadConfigFile('deploy/configs/paper/cpu-smoke-evolve.yaml');
  const config = {
    ...onModelServer(preset, modelBaseUrl(settings)),
    runId: `paper-smoke-${stamp}`,
    artifactRoot,
  };
  const client = await connectClient(stackTemporal(settings));
  try {
    const handle = await startRun(client, config, settings.taskQueue);
    const result = (await handle.result()) as RunResult;

    // Stage 0 trained pi_1 from the preference set; iteration 1 trained on top of it.
    assert.ok(result.stage0, 'stage 0 SFT ran');
    assert.ok(result.stage0.rows > 0);
    assert.deepEqual(
      result.iterations.map((it) => it.iteration),
      [0, 1],
    );
    for (const it of result.iterations) {
      assert.equal(it.evaluation.prompts, 6, `iteration ${it.iteration}: the 6 held-out problems`);
      assert.equal(it.evaluation.accuracy.length, 2, 'direct and refine@1');
      assert.deepEqual(
        it.suites?.map((s) => [s.name, s.prompts, s.rounds.length]),
        [['arith', 4, 2]],
      );
    }
    assert.equal(result.iterations[0]!.checkpoint, result.stage0.uri, 'iteration 0 evaluates pi_1');
    assert.notEqual(result.finalModel, result.stage0.uri);

    // Fresh prompts: 6 rows of the pool, by id; EVOLVE trained on a refinement row per direct row.
    const iter1 = join(artifactRoot, config.runId, 'iter-1');
    const prompts = rowsOf(join(iter1, 'train', 'prompts.jsonl'), (r) => PromptRecordSchema.parse(r));
    assert.equal(prompts.length, 6);
    const pool = rowsOf('deploy/configs/paper/smoke/prompts.jsonl', (r) => PromptRecordSchema.parse(r));
    const poolTexts = new Set(pool.map((p) => p.prompt));
    assert.ok(pool.length > prompts.length, 'a slice of the pool, not all of it');
    assert.ok(
      prompts.every((p) => poolTexts.has(p.prompt)),
      'every training prompt comes from the pool',
    );
    const pairStep = result.iterations[1]!.steps.find((s) => s.step === 'pair')!;
    const pairs = rowsOf(pairStep.uri, (r) => PairRecordSchema.parse(r));
    const kinds = (kind: string) => pairs.filter((p) => p.kind === kind).length;
    assert.ok(kinds('direct') > 0, 'the iteration trained on pairs');
    assert.equal(kinds('refinement'), kinds('direct'));
  } finally {
    await client.connection.close();
  }
});
