import type { Evaluation, Keep, Sampling, StrategyName } from './config.js';
import type { GenerationRecord, ScoreRecord } from './records.js';

/** A strategy with its shape resolved: what the generation steps run and the evaluation selects with. */
export interface Strategy {
  name: StrategyName;
  /** N: independent chains per prompt. */
  samples: number;
  /** K: responses per chain, the answer and K-1 refinements. */
  depth: number;
  keep: Keep;
}

/** `tree` keeps the best of everything (method.md); the others keep each chain's latest response. */
const defaultKeep = (name: StrategyName): Keep => (name === 'tree' ? 'best' : 'last');

/** The shape a strategy gives to the configured N and K: a strategy ignores the knob it does not use. */
export function resolveStrategy(
  name: StrategyName,
  samples: number,
  depth: number,
  keep: Keep = defaultKeep(name),
): Strategy {
  switch (name) {
    case 'direct':
      return { name, samples: 1, depth: 1, keep };
    case 'parallel':
      return { name, samples, depth: 1, keep };
    case 'chain':
      return { name, samples: 1, depth, keep };
    case 'parallel-refine':
      return { name, samples, depth: 2, keep };
    case 'tree':
      return { name, samples, depth, keep };
  }
}

/**
 * Configs validated before strategies existed (in running workflows and recorded histories) lack the
 * strategy keys: they get today's shapes, N chains of depth K for training and one chain for evaluation.
 */
type Legacy<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;

export const trainingStrategy = (s: Legacy<Sampling, 'strategy'>) =>
  resolveStrategy(s.strategy ?? 'tree', s.samples, s.chainDepth);

export const evaluationStrategy = (e: Legacy<Evaluation, 'strategy' | 'samples'>) =>
  resolveStrategy(e.strategy ?? 'chain', e.samples ?? 1, e.refineRounds + 1, e.keep);

export interface ScoredGeneration {
  generation: GenerationRecord;
  score: ScoreRecord | undefined;
}
export type JudgedGeneration = ScoredGeneration & { score: ScoreRecord & { score: number } };

export const isJudged = (r: ScoredGeneration): r is JudgedGeneration =>
  r.score?.status === 'ok' && typeof r.score.score === 'number';

/** Best first: higher score, then the later refinement step, then the lower chain, so choices are deterministic. */
export const bestFirst = (a: JudgedGeneration, b: JudgedGeneration) =>
  b.score.score - a.score.score ||
  b.generation.step - a.generation.step ||
  a.generation.chain - b.generation.chain;

/**
 * The answer a strategy keeps for one prompt after `round` refinements (round 0 = the first answers).
 * Candidates are each chain's response at that round (`last`) or every response up to it (`best`);
 * the judge picks among them. Unjudged candidates cannot be kept; null when none is judged.
 */
export function selectAnswer(
  responses: ScoredGeneration[],
  keep: Keep,
  round: number,
): JudgedGeneration | null {
  const step = round + 1;
  const candidates = responses.filter((r) =>
    keep === 'best' ? r.generation.step <= step : r.generation.step === step,
  );
  return candidates.filter(isJudged).sort(bestFirst)[0] ?? null;
}
