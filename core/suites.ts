/**
 * Benchmark suite scores per refinement round, from the kept answers (accuracy) or the recorded
 * pairwise verdicts (AlpacaEval 2, Arena-Hard v0.1), with the metric functions of core/metrics.
 */
import { z } from 'zod';
import type { Suite } from './config.js';
import { accuracyByExtractor, type Graded } from './metrics/accuracy.js';
import { headToHead, lengthControlledWinRate } from './metrics/alpaca-eval.js';
import { arenaHardScores } from './metrics/arena-hard.js';
import type { GenerationRecord, VerdictRecord } from './records.js';
import { selectAnswer, type ScoredGeneration, type Strategy } from './strategies.js';

export const SuiteRoundSchema = z.object({
  round: z.int().min(0).describe('0: the direct answer; r: after r refinements'),
  value: z.number().nullable().describe('the headline figure in percent; null when nothing was judged'),
  metrics: z.record(z.string(), z.number()).describe('every figure of the suite (finite ones only)'),
  missing: z.int().min(0).describe('prompts without a kept answer at this round'),
});
export type SuiteRound = z.infer<typeof SuiteRoundSchema>;

/** A suite's summary.json, as summarizeSuite writes it and the report reads it. */
export const SuiteSummarySchema = z.object({
  uri: z.string(),
  name: z.string(),
  kind: z.enum(['accuracy', 'alpaca-eval', 'arena-hard']),
  prompts: z.int().min(0),
  headline: z.string().describe('what `value` is, e.g. "LC win rate"'),
  judge: z.string(),
  strategy: z.string(),
  rounds: z.array(SuiteRoundSchema),
  wallMs: z.number(),
});
export type SuiteSummary = z.infer<typeof SuiteSummarySchema>;

/**
 * The answer a strategy keeps after `round` refinements. A single chain kept by `last` needs no judge:
 * its response at that round is the answer, so a run without a judge still has answers to compare.
 */
export function keptAnswer(
  responses: ScoredGeneration[],
  strategy: Strategy,
  round: number,
): GenerationRecord | null {
  if (strategy.samples === 1 && strategy.keep === 'last')
    return responses.find((r) => r.generation.step === round + 1)?.generation ?? null;
  return selectAnswer(responses, strategy.keep, round)?.generation ?? null;
}

const finite = (metrics: Record<string, number>) =>
  Object.fromEntries(Object.entries(metrics).filter(([, v]) => Number.isFinite(v)));
const orNull = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);

/** AlpacaEval 2: raw win rate with SE and counts; the LC win rate where difficulties are given. */
export function alpacaEvalRound(
  round: number,
  rows: readonly VerdictRecord[],
  difficultyOf?: (promptId: string) => number,
): SuiteRound {
  const { winRate, standardError, nWins, nWinsBase, nDraws, nTotal, discreteWinRate } = headToHead(
    rows.map((r) => r.preference),
  );
  const metrics: Record<string, number> = {
    winRate,
    standardError,
    nWins,
    nWinsBase,
    nDraws,
    nTotal,
    discreteWinRate,
  };
  const answered = rows.filter((r) => r.modelLength !== null);
  if (difficultyOf && nTotal > 0) {
    metrics.lengthControlledWinRate = lengthControlledWinRate(
      answered.map((r) => ({
        preference: r.preference,
        referenceLength: r.referenceLength,
        modelLength: r.modelLength!,
        difficulty: difficultyOf(r.promptId),
      })),
    ).lengthControlledWinRate;
  }
  return {
    round,
    value: orNull(difficultyOf ? metrics.lengthControlledWinRate : winRate),
    metrics: finite(metrics),
    missing: rows.length - answered.length,
  };
}

/** Arena-Hard v0.1: the Bradley-Terry win rate against the baseline with its 95 % bootstrap interval. */
export function arenaHardRound(
  round: number,
  rows: readonly VerdictRecord[],
  options: { rounds: number; seed: number },
): SuiteRound {
  const judgments = rows.map((r) => ({
    questionId: r.promptId,
    model: 'model',
    games: [r.games[0] ?? null, r.games[1] ?? null] as [VerdictRecord['games'][0], VerdictRecord['games'][0]],
  }));
  const [score] = arenaHardScores(judgments, { baseline: 'baseline', ...options });
  const metrics: Record<string, number> = score
    ? {
        score: score.score,
        lower: score.lower,
        upper: score.upper,
        wins: score.wins,
        losses: score.losses,
        ties: score.ties,
        invalid: score.invalid,
      }
    : {};
  return {
    round,
    value: orNull(score?.score),
    metrics: finite(metrics),
    missing: rows.filter((r) => r.generationId === null).length,
  };
}

/**
 * GSM8K / MATH: the headline is the run's verifier on the kept answers (a prompt without one counts as
 * wrong); each extractor's accuracy is listed on its own, since they are not comparable.
 */
export function accuracyRound(
  round: number,
  items: readonly (Graded & { correct: boolean })[],
  prompts: number,
  verifier: Extract<Suite, { kind: 'accuracy' }>['verifier'],
): SuiteRound {
  const byExtractor = accuracyByExtractor(verifier === 'numeric' ? 'gsm8k' : 'math', items);
  const correct = items.filter((i) => i.correct).length;
  const metrics: Record<string, number> = { correct, prompts };
  for (const e of byExtractor) metrics[`accuracy:${e.extractor}`] = (100 * e.correct) / (prompts || 1);
  return {
    round,
    value: prompts === 0 ? null : (100 * correct) / prompts,
    metrics,
    missing: prompts - items.length,
  };
}

/** What a suite's headline figure is. */
export function headlineOf(suite: Suite): string {
  switch (suite.kind) {
    case 'accuracy':
      return `accuracy (verifier ${suite.verifier})`;
    case 'alpaca-eval':
      return suite.difficulty ? 'LC win rate' : 'win rate';
    case 'arena-hard':
      return 'score vs baseline';
  }
}

/**
 * One line per suite for the terminal, with the judge, so that a local judge's number is not taken for
 * a leaderboard one: `alpaca (LC win rate, %): direct 31.2, refine@1 35.0 [official ..., judge gpt-4-1106-preview]`.
 */
export function suiteLine(suite: SuiteSummary): string {
  const values = suite.rounds.map(
    (r) => `${r.round === 0 ? 'direct' : `refine@${r.round}`} ${r.value === null ? '-' : r.value.toFixed(1)}`,
  );
  return `${suite.name} (${suite.headline}, %): ${values.join(', ')} [${suite.judge}]`;
}
