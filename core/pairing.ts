import type { Pairing, Refinement } from './config.js';
import type { GenerationRecord, PairRecord } from './records.js';
import { bestFirst, isJudged, type ScoredGeneration } from './strategies.js';
import { directContext, refinementContext, templateHash } from './templates.js';

export type DropReason = 'unjudged' | 'single-response' | 'below-margin';

export type PairDecision =
  | { kind: 'pair'; chosen: GenerationRecord; rejected: GenerationRecord; margin: number }
  | { kind: 'drop'; reason: DropReason };

/**
 * Chooses the (chosen, rejected) responses of one prompt. The max-min rule: chosen = best-scored response, rejected = worst. Ties for best prefer the later
 * refinement step, ties for worst the earlier one, then the lower chain, so the choice is deterministic.
 */
export function selectPair(responses: ScoredGeneration[], pairing: Pairing): PairDecision {
  return pairing.rule === 'last-vs-first' ? lastVsFirst(responses) : maxMin(responses, pairing);
}

/**
 * The rule-based selection that needs no judge: in each prompt's first chain, chosen = its last
 * refinement, rejected = its first answer. Identical texts carry no preference and are dropped.
 */
function lastVsFirst(responses: ScoredGeneration[]): PairDecision {
  const chain = responses.filter(
    (r) => r.generation.chain === Math.min(...responses.map((x) => x.generation.chain)),
  );
  if (chain.length < 2) return { kind: 'drop', reason: 'single-response' };
  const bySteps = [...chain].sort((a, b) => a.generation.step - b.generation.step);
  const first = bySteps[0]!.generation;
  const last = bySteps.at(-1)!.generation;
  if (first.text.trim() === last.text.trim()) return { kind: 'drop', reason: 'below-margin' };
  return { kind: 'pair', chosen: last, rejected: first, margin: 0 };
}

function maxMin(responses: ScoredGeneration[], pairing: Pairing): PairDecision {
  const judged = responses.filter(isJudged);
  if (judged.length === 0) return { kind: 'drop', reason: 'unjudged' };
  if (judged.length === 1) return { kind: 'drop', reason: 'single-response' };
  const best = [...judged].sort(bestFirst)[0]!;
  const worst = [...judged].sort(
    (a, b) =>
      a.score.score - b.score.score ||
      a.generation.step - b.generation.step ||
      a.generation.chain - b.generation.chain,
  )[0]!;
  const margin = best.score.score - worst.score.score;
  if (margin <= 0 || margin < pairing.margin) return { kind: 'drop', reason: 'below-margin' };
  return { kind: 'pair', chosen: best.generation, rejected: worst.generation, margin };
}

/** EVOLVE rows for one selected triple: the direct pair and, unless disabled, the refinement pair. */
export function evolveRows(
  prompt: string,
  decision: Extract<PairDecision, { kind: 'pair' }>,
  pairing: Pairing,
  refinement: Refinement,
): PairRecord[] {
  const base = {
    promptId: decision.chosen.promptId,
    chosen: [{ role: 'assistant' as const, content: decision.chosen.text }],
    rejected: [{ role: 'assistant' as const, content: decision.rejected.text }],
    chosenId: decision.chosen.id,
    rejectedId: decision.rejected.id,
    margin: decision.margin,
  };
  const rows: PairRecord[] = [{ ...base, kind: 'direct', prompt: directContext(prompt), templateHash: null }];
  if (pairing.refinementPairs) {
    rows.push({
      ...base,
      kind: 'refinement',
      prompt: refinementContext(prompt, decision.rejected.text, refinement),
      templateHash: templateHash(refinement),
    });
  }
  return rows;
}
