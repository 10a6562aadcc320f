import type { Pairing, Refinement } from './config.js';
import type { GenerationRecord, Message, PairRecord, SftRecord } from './records.js';
import type { ScoredGeneration } from './strategies.js';
import { directContext, fnv1a64, refinementContext, refinementOf, templateHash } from './templates.js';

export type { ScoredGeneration };

export const DROP_REASONS = ['unjudged', 'single-response', 'below-margin', 'tie'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export type PairDecision =
  | { kind: 'pair'; chosen: GenerationRecord; rejected: GenerationRecord; margin: number }
  | { kind: 'drop'; reason: DropReason };

type Judged = ScoredGeneration & { value: number };

/** Chooses the (chosen, rejected) responses of one prompt by the configured rule. */
export function selectPair(responses: ScoredGeneration[], pairing: Pairing): PairDecision {
  if (pairing.rule === 'last-vs-first') return lastVsFirst(responses);
  const judged: Judged[] = responses.flatMap((r) =>
    r.score?.status === 'ok' && typeof r.score.score === 'number' && Number.isFinite(r.score.score)
      ? [{ ...r, value: valueOf(r.score.score, r.generation, pairing) }]
      : [],
  );
  if (judged.length === 0) return { kind: 'drop', reason: 'unjudged' };
  if (judged.length === 1) return { kind: 'drop', reason: 'single-response' };
  return pairing.rule === 'max-random' ? maxRandom(judged, pairing) : maxMin(judged, pairing);
}

/** The judge's score, less `lengthPenalty` per character under the length-penalised rule. */
function valueOf(score: number, g: GenerationRecord, pairing: Pairing): number {
  return pairing.rule === 'length-penalised-max-min' ? score - pairing.lengthPenalty * g.text.length : score;
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

/**
 * Among equally scored responses: prefer-refinement takes the latest refinement as chosen and the
 * earliest answer as rejected; prefer-shorter the shortest as chosen and the longest as rejected. Then
 * the lower chain, so that the choice is deterministic.
 */
function pick(tied: Judged[], role: 'chosen' | 'rejected', pairing: Pairing): Judged {
  const sign = role === 'chosen' ? 1 : -1;
  const length = (r: Judged) => r.generation.text.length;
  return [...tied].sort(
    (a, b) =>
      (pairing.ties === 'prefer-shorter' ? sign * (length(a) - length(b)) : 0) ||
      sign * (b.generation.step - a.generation.step) ||
      a.generation.chain - b.generation.chain,
  )[0]!;
}

function decide(chosen: Judged, rejected: Judged, pairing: Pairing): PairDecision {
  const margin = chosen.value - rejected.value;
  if (margin <= 0 || margin < pairing.margin) return { kind: 'drop', reason: 'below-margin' };
  return { kind: 'pair', chosen: chosen.generation, rejected: rejected.generation, margin };
}

/** Best vs worst (by score, or by length-penalised score). */
function maxMin(judged: Judged[], pairing: Pairing): PairDecision {
  const top = Math.max(...judged.map((r) => r.value));
  const bottom = Math.min(...judged.map((r) => r.value));
  const best = judged.filter((r) => r.value === top);
  const worst = judged.filter((r) => r.value === bottom);
  if (top > bottom && pairing.ties === 'drop' && (best.length > 1 || worst.length > 1))
    return { kind: 'drop', reason: 'tie' };
  return decide(pick(best, 'chosen', pairing), pick(worst, 'rejected', pairing), pairing);
}

/** Best vs one response drawn, reproducibly from (seed, prompt), among those at least `margin` below it. */
function maxRandom(judged: Judged[], pairing: Pairing): PairDecision {
  const top = Math.max(...judged.map((r) => r.value));
  const best = judged.filter((r) => r.value === top);
  if (pairing.ties === 'drop' && best.length > 1 && best.length < judged.length)
    return { kind: 'drop', reason: 'tie' };
  const chosen = pick(best, 'chosen', pairing);
  const candidates = judged
    .filter((r) => top - r.value > 0 && top - r.value >= pairing.margin)
    .sort((a, b) => a.generation.id.localeCompare(b.generation.id));
  if (candidates.length === 0) return { kind: 'drop', reason: 'below-margin' };
  const draw = parseInt(fnv1a64(`${pairing.seed}/${chosen.generation.promptId}`).slice(0, 8), 16);
  return decide(chosen, candidates[draw % candidates.length]!, pairing);
}

type Selected = Extract<PairDecision, { kind: 'pair' }>;

/**
 * EVOLVE preference rows for one selected triple: the direct pair x and, unless disabled, the
 * refinement pair c(x, y_l, z), each carrying the weight of its term of L_PT.
 */
export function evolveRows(
  prompt: string,
  decision: Selected,
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
  const rows: PairRecord[] = [
    {
      ...base,
      kind: 'direct',
      prompt: directContext(prompt),
      templateHash: null,
      weight: pairing.weights.direct,
    },
  ];
  if (pairing.refinementPairs) {
    rows.push({
      ...base,
      kind: 'refinement',
      prompt: refinementContext(prompt, decision.rejected.text, refinement),
      templateHash: templateHash(refinement),
      weight: pairing.weights.refinement,
    });
  }
  return rows;
}

/** A training row of trainer.loss srpo: a triple with both revision contexts, in TRL's conversational format. */
export interface SrpoRow {
  prompt: Message[];
  chosen: Message[];
  rejected: Message[];
  revise_rejected: Message[];
  revise_chosen: Message[];
}

/**
 * SRPO's rows, one per triple: the direct row's (x, y_w, y_l), c(x, y_l, z) from the refinement row of the
 * same prompt, and c(x, y_w, z) built with the same template and instruction. Throws naming the prompt whose
 * refinement row is missing or was not built from its rejected answer.
 */
export function srpoRows(pairs: PairRecord[]): SrpoRow[] {
  const refinements = new Map(pairs.filter((p) => p.kind === 'refinement').map((p) => [p.promptId, p]));
  return pairs
    .filter((p) => p.kind === 'direct')
    .map((direct) => {
      const x = direct.prompt.at(-1)!.content;
      const [chosen, rejected] = [direct.chosen[0]!.content, direct.rejected[0]!.content];
      const row = refinements.get(direct.promptId);
      const refinement = row && refinementOf(row.prompt, x, rejected);
      if (!row || !refinement) {
        throw new Error(
          `prompt ${direct.promptId}: SRPO needs its refinement row c(x, y_l, z) (pairing.refinementPairs), ${row ? 'which is not built from its rejected answer' : 'which is missing'}`,
        );
      }
      return {
        prompt: direct.prompt,
        chosen: direct.chosen,
        rejected: direct.rejected,
        revise_rejected: row.prompt,
        revise_chosen: refinementContext(x, chosen, refinement),
      };
    });
}

/** Self-refinement-aware SFT rows (stage 0): x -> y_w and c(x, y_l, z) -> y_w. */
export function sftRows(prompt: string, decision: Selected, refinement: Refinement): SftRecord[] {
  const base = {
    promptId: decision.chosen.promptId,
    completion: [{ role: 'assistant' as const, content: decision.chosen.text }],
    sourceId: decision.chosen.id,
  };
  return [
    { ...base, kind: 'direct', prompt: directContext(prompt) },
    { ...base, kind: 'refinement', prompt: refinementContext(prompt, decision.rejected.text, refinement) },
  ];
}
