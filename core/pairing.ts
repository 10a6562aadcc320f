import type { Pairing, Refinement } from './config.js';
import type { GenerationRecord, PairRecord, ScoreRecord } from './records.js';
import { directContext, refinementContext } from './templates.js';

export interface ScoredGeneration {
  generation: GenerationRecord;
  score: ScoreRecord | undefined;
}

export type DropReason = 'unjudged' | 'single-response' | 'below-margin';

export type PairDecision =
  | { kind: 'pair'; chosen: GenerationRecord; rejected: GenerationRecord; margin: number }
  | { kind: 'drop'; reason: DropReason };

/**
 * The max-min rule: chosen = best-scored response, rejected = worst. Ties for best prefer the later
 * refinement step, ties for worst the earlier one, then the lower chain, so the choice is deterministic.
 */
export function selectPair(responses: ScoredGeneration[], pairing: Pairing): PairDecision {
  const judged = responses.filter(
    (r): r is ScoredGeneration & { score: ScoreRecord & { score: number } } =>
      r.score?.status === 'ok' && typeof r.score.score === 'number',
  );
  if (judged.length === 0) return { kind: 'drop', reason: 'unjudged' };
  if (judged.length === 1) return { kind: 'drop', reason: 'single-response' };
  const byPreference = [...judged].sort(
    (a, b) =>
      b.score.score - a.score.score ||
      b.generation.step - a.generation.step ||
      a.generation.chain - b.generation.chain,
  );
  const best = byPreference[0]!;
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
  const rows: PairRecord[] = [{ ...base, kind: 'direct', prompt: directContext(prompt) }];
  if (pairing.refinementPairs) {
    rows.push({
      ...base,
      kind: 'refinement',
      prompt: refinementContext(prompt, decision.rejected.text, refinement),
    });
  }
  return rows;
}
