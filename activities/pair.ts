import { join } from 'node:path';
import { evolveRows, selectPair, type DropReason } from '../core/pairing.js';
import type { Manifest, PairRecord } from '../core/records.js';
import type { BuildPairsInput } from '../core/steps.js';
import { readManifestRows, writeJsonlWithManifest } from './artifacts.js';
import { reusableOutput, stepKey } from './reuse.js';
import { readScoredByPrompt } from './scored.js';

const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** EVOLVE preference rows (direct + refinement pair per selected prompt) and a dataset card in the manifest. */
export function buildPairs(input: BuildPairsInput): Promise<Manifest> {
  const inputs = [input.prompts, ...input.generations, ...input.scores].map((m) => m.sha256);
  const key = stepKey('pair', inputs, { pairing: input.pairing, refinement: input.refinement });
  return reusableOutput(input.scope, key, () => pair(input));
}

async function pair(input: BuildPairsInput): Promise<Manifest> {
  const out = join(input.scope.dir, 'pairs.jsonl');
  const started = Date.now();
  const prompts = await readManifestRows(input.prompts, 'prompt');
  const byPrompt = await readScoredByPrompt(input.generations, input.scores);

  const rows: PairRecord[] = [];
  const dropped: Record<DropReason, number> = { unjudged: 0, 'single-response': 0, 'below-margin': 0 };
  let refinementWon = 0;
  for (const prompt of prompts) {
    const decision = selectPair(byPrompt.get(prompt.id) ?? [], input.pairing);
    if (decision.kind === 'drop') {
      dropped[decision.reason]++;
      continue;
    }
    if (decision.chosen.step > 1) refinementWon++;
    rows.push(...evolveRows(prompt.prompt, decision, input.pairing, input.refinement));
  }
  const direct = rows.filter((r) => r.kind === 'direct');
  const stats = {
    prompts: prompts.length,
    pairedPrompts: direct.length,
    directPairs: direct.length,
    refinementPairs: rows.length - direct.length,
    droppedUnjudged: dropped.unjudged,
    droppedSingleResponse: dropped['single-response'],
    droppedBelowMargin: dropped['below-margin'],
    refinementWonShare: direct.length === 0 ? 0 : refinementWon / direct.length,
    meanMargin: mean(direct.map((r) => r.margin)),
    meanChosenChars: mean(direct.map((r) => r.chosen[0]!.content.length)),
    meanRejectedChars: mean(direct.map((r) => r.rejected[0]!.content.length)),
  };
  return writeJsonlWithManifest(
    out,
    'pair',
    rows,
    { step: 'pair', runId: input.scope.runId, iteration: input.scope.iteration },
    { stats, wallMs: Date.now() - started },
  );
}
