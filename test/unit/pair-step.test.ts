import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeJsonlWithManifest } from '../../storage/jsonl-writer.js';
import { buildPairs } from '../../activities/pair.js';
import { PairingSchema, type Refinement } from '../../core/config.js';
import { evolveRows, selectPair, sftRows } from '../../core/pairing.js';
import type { GenerationRecord, Manifest, PromptRecord, ScoreRecord } from '../../core/records.js';
import { shardsOf } from '../../core/shards.js';
import type { PairShard, StepScope } from '../../core/steps.js';

const pairing = PairingSchema.parse({ rule: 'max-min', margin: 0.5 });
const refinement: Refinement = { template: 'multi-turn', instruction: 'Improve it.' };
const producedBy = { step: 'test', runId: 'r', iteration: 1 };

/** 12 prompts in 3 shards; 2 chains of depth 2 each, with ties, unjudged answers and wide margins. */
async function phase(root: string) {
  const prompts: PromptRecord[] = Array.from({ length: 12 }, (_, i) => ({
    id: `q${i}`,
    prompt: `What is ${i}+1?`,
  }));
  const promptManifest = await writeJsonlWithManifest(
    join(root, 'prompts.jsonl'),
    'prompt',
    prompts,
    producedBy,
  );
  const score = (p: number, chain: number, step: number) => ((p * 7 + chain * 3 + step * 5) % 11) / 2;
  const shards: PairShard[] = [];
  for (const shard of shardsOf(promptManifest, 4)) {
    const answers: GenerationRecord[] = [];
    const refined: GenerationRecord[] = [];
    const scores: ScoreRecord[] = [];
    for (let p = shard.start; p < shard.end; p++) {
      for (const chain of [0, 1]) {
        for (const step of [1, 2]) {
          const id = `q${p}/${chain}/${step}`;
          (step === 1 ? answers : refined).push({
            id,
            promptId: `q${p}`,
            chain,
            step,
            parentId: step === 1 ? null : `q${p}/${chain}/1`,
            text: `answer ${p}.${chain}.${step} ${'x'.repeat(step * chain)}`,
            finishReason: 'stop',
            usage: null,
            model: 'm',
            temperature: 1,
            maxTokens: 32,
            seed: chain,
            templateHash: null,
            latencyMs: 1,
            flags: [],
          });
          const unjudged = p % 5 === 4;
          scores.push({
            generationId: id,
            promptId: `q${p}`,
            chain,
            step,
            judge: 'llm',
            status: unjudged ? 'unparseable' : 'ok',
            score: unjudged ? null : score(p, chain, step),
            extracted: null,
            raw: null,
          });
        }
      }
    }
    const at = (step: string) => join(root, step, `shard-${shard.index}.jsonl`);
    shards.push({
      start: shard.start,
      end: shard.end,
      generations: [
        await writeJsonlWithManifest(at('sample'), 'generation', answers, producedBy),
        await writeJsonlWithManifest(at('refine'), 'generation', refined, producedBy),
      ],
      scores: await writeJsonlWithManifest(at('judge'), 'score', scores, producedBy),
    });
  }
  return { prompts, promptManifest, shards };
}

const scopeIn = (root: string, name: string): StepScope => ({
  runId: 'r',
  iteration: 1,
  dir: join(root, name),
  indexes: [join(root, name, 'cas')],
});
const rowsOf = (m: Manifest) =>
  readFileSync(m.uri, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as unknown);

test('pairs built a shard at a time equal the pairs of every prompt at once, in prompt order', async () => {
  const root = mkdtempSync(join(tmpdir(), 'evolve-pair-unit-'));
  const { prompts, promptManifest, shards } = await phase(root);
  const manifest = await buildPairs({
    scope: scopeIn(root, 'pairs'),
    prompts: promptManifest,
    shards,
    pairing,
    refinement,
  });

  // The oracle: every prompt's responses in memory at once.
  const all = shards.flatMap((s) => [...s.generations, s.scores]).flatMap(rowsOf);
  const generations = all.filter((r): r is GenerationRecord => 'text' in (r as object));
  const scores = all.filter((r): r is ScoreRecord => 'generationId' in (r as object));
  const expected = { pairs: [] as unknown[], sft: [] as unknown[] };
  let dropped = 0;
  for (const prompt of prompts) {
    const responses = generations
      .filter((g) => g.promptId === prompt.id)
      .map((generation) => ({ generation, score: scores.find((s) => s.generationId === generation.id) }));
    const decision = selectPair(responses, pairing);
    if (decision.kind === 'drop') {
      dropped++;
      continue;
    }
    expected.pairs.push(...evolveRows(prompt.prompt, decision, pairing, refinement));
    expected.sft.push(...sftRows(prompt.prompt, decision, refinement));
  }
  assert.ok(dropped >= 2, 'the fixture drops some prompts (the unjudged ones)');
  assert.deepEqual(rowsOf(manifest), expected.pairs);
  assert.deepEqual(rowsOf({ uri: join(root, 'pairs', 'sft.jsonl') } as Manifest), expected.sft);
  const direct = expected.pairs.filter((r) => (r as { kind: string }).kind === 'direct');
  assert.deepEqual(rowsOf({ uri: join(root, 'pairs', 'dpo-direct.jsonl') } as Manifest), direct);
  assert.equal(manifest.rows, expected.pairs.length);
  assert.equal(manifest.stats.prompts, 12);
  assert.equal(manifest.stats.directPairs, direct.length);
  assert.equal(manifest.stats.directPairs! + dropped, 12);
  const margins = direct.map((r) => (r as { margin: number }).margin);
  assert.equal(manifest.stats.meanMargin, margins.reduce((a, b) => a + b, 0) / margins.length);
  const binned = Object.entries(manifest.stats).filter(([k]) => k.startsWith('margin['));
  assert.equal(
    binned.reduce((n, [, v]) => n + v, 0),
    direct.length,
  );
});

test('a bad row in the last shard fails the step with its file and line, and writes nothing', async () => {
  const root = mkdtempSync(join(tmpdir(), 'evolve-pair-unit-'));
  const { promptManifest, shards } = await phase(root);
  appendFileSync(shards[2]!.scores.uri, '{"generationId": 7}\n');
  await assert.rejects(
    buildPairs({ scope: scopeIn(root, 'pairs'), prompts: promptManifest, shards, pairing, refinement }),
    (err: Error) => err.name === 'DataError' && err.message.includes(`${shards[2]!.scores.uri}:17`),
  );
  assert.deepEqual(readdirSync(join(root, 'pairs')), []);
});
