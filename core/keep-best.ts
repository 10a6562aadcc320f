import type { EvalSummary, IterationResult, KeptBest } from './steps.js';

/** An evaluation's score: accuracy of the kept answer after the last refinement round. */
export const evaluationScore = (evaluation: EvalSummary): number => evaluation.accuracy.at(-1) ?? 0;

/**
 * The keep-best decision after the last of `iterations`: null when it scored at least as well as every
 * earlier iteration (the run goes on from its checkpoint), else the best earlier one (the earliest on
 * ties). Pure, so the run workflow can call it and replay it.
 */
export function keepBestDecision(iterations: IterationResult[]): KeptBest | null {
  const last = iterations.at(-1);
  if (!last) return null;
  let best = last;
  for (const it of iterations)
    if (evaluationScore(it.evaluation) > evaluationScore(best.evaluation)) best = it;
  if (best === last) return null;
  return {
    checkpoint: best.checkpoint,
    iteration: best.iteration,
    score: evaluationScore(best.evaluation),
    regressedTo: evaluationScore(last.evaluation),
  };
}
