import { join } from 'node:path';
import { DROP_REASONS, evolveRows, selectPair, sftRows, type DropReason } from '../core/pairing.js';
import type { Manifest, PairRecord, SftRecord } from '../core/records.js';
import type { BuildPairsInput } from '../core/steps.js';
import { readManifestRows, writeJsonlWithManifest } from './artifacts.js';
import { reusableOutput, stepKey } from './reuse.js';
import { readScoredByPrompt } from './scored.js';

const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

/** Upper edges of the margin histogram in the dataset card; the last bin is open. */
const MARGIN_EDGES = [0.25, 0.5, 1, 2, 4, 8];

function marginHistogram(margins: number[]): Record<string, number> {
  const bins: Record<string, number> = {};
  let lower = 0;
  for (const edge of [...MARGIN_EDGES, Infinity]) {
    const key = edge === Infinity ? `margin[${lower},inf)` : `margin[${lower},${edge})`;
    bins[key] = margins.filter((m) => m >= lower && m < edge).length;
    lower = edge;
  }
  return bins;
}

/**
 * The pair step's outputs, in TRL's conversational format: pairs.jsonl (EVOLVE L_PT rows, direct and
 * refinement, with term weights; what the trainer reads), sft.jsonl (self-refinement-aware SFT rows)
 * and dpo-direct.jsonl (plain iterative-DPO rows, the baseline). The dataset card is pairs.jsonl's
 * manifest stats; that manifest is written last, so its presence means all three are complete.
 */
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
  const sft: SftRecord[] = [];
  const dropped = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  let refinementWon = 0;
  for (const prompt of prompts) {
    const decision = selectPair(byPrompt.get(prompt.id) ?? [], input.pairing);
    if (decision.kind === 'drop') {
      dropped[decision.reason]++;
      continue;
    }
    if (decision.chosen.step > 1) refinementWon++;
    rows.push(...evolveRows(prompt.prompt, decision, input.pairing, input.refinement));
    sft.push(...sftRows(prompt.prompt, decision, input.refinement));
  }
  const direct = rows.filter((r) => r.kind === 'direct');
  const producedBy = { step: 'pair', runId: input.scope.runId, iteration: input.scope.iteration };
  await writeJsonlWithManifest(join(input.scope.dir, 'sft.jsonl'), 'sft', sft, producedBy);
  await writeJsonlWithManifest(join(input.scope.dir, 'dpo-direct.jsonl'), 'pair', direct, producedBy);

  const chosenChars = direct.map((r) => r.chosen[0]!.content.length);
  const rejectedChars = direct.map((r) => r.rejected[0]!.content.length);
  const stats = {
    prompts: prompts.length,
    pairedPrompts: direct.length,
    directPairs: direct.length,
    refinementPairs: rows.length - direct.length,
    sftRows: sft.length,
    [`pairsByRule.${input.pairing.rule}`]: direct.length,
    droppedUnjudged: dropped.unjudged,
    droppedSingleResponse: dropped['single-response'],
    droppedBelowMargin: dropped['below-margin'],
    droppedTie: dropped.tie,
    refinementWonShare: direct.length === 0 ? 0 : refinementWon / direct.length,
    meanMargin: mean(direct.map((r) => r.margin)),
    ...marginHistogram(direct.map((r) => r.margin)),
    meanChosenChars: mean(chosenChars),
    meanRejectedChars: mean(rejectedChars),
    chosenLongerShare:
      direct.length === 0 ? 0 : chosenChars.filter((c, i) => c > rejectedChars[i]!).length / direct.length,
    weightDirect: input.pairing.weights.direct,
    weightRefinement: input.pairing.weights.refinement,
  };
  return writeJsonlWithManifest(out, 'pair', rows, producedBy, { stats, wallMs: Date.now() - started });
}
