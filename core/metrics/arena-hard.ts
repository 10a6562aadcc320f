/**
 * Arena-Hard v0.1 scoring (show_result.py of lmarena/arena-hard-auto): each prompt is judged twice
 * against the baseline with the answer positions swapped, a strong verdict (`A>>B`) counts three
 * times, a Bradley-Terry fit turns the battles into ratings, and the score is the predicted win rate
 * against the baseline, with a 95 % interval from bootstrap resamples of the battle rows.
 */
import type { Verdict } from '../judge-replies.js';
import { bootstrap, percentile } from './bootstrap.js';
import { ARENA_SCALE, expectedWinRate, fitBradleyTerry, type Battle } from './bradley-terry.js';

/** One row of a judgment file: a model's two games against the baseline on one prompt. */
export interface Judgment {
  questionId: string;
  model: string;
  /** Game 1 has the baseline as assistant A, game 2 has the model as A; null = no usable verdict. */
  games: [Verdict | null, Verdict | null];
}

export const STRONG_WEIGHT = 3;

/**
 * The battle rows of one judgment, from the point of view of (baseline = a, model = b), in the
 * official order (game 1, then game 2): a strong verdict becomes `strongWeight` identical rows, as
 * show_result.py builds them. The rows, not the judgments, are what the bootstrap resamples.
 */
export function battlesOf(judgment: Judgment, baseline: string, strongWeight = STRONG_WEIGHT): Battle[] {
  return judgment.games.flatMap((verdict, game) => {
    if (verdict === null) return [];
    const baselineIsA = game === 0;
    const strong = verdict === 'A>>B' || verdict === 'B>>A';
    const aSideWins = verdict.startsWith('A>');
    const winner: Battle['winner'] = verdict === 'A=B' ? 'tie' : aSideWins === baselineIsA ? 'a' : 'b';
    return Array.from({ length: strong ? strongWeight : 1 }, () => ({
      modelA: baseline,
      modelB: judgment.model,
      winner,
    }));
  });
}

export interface ArenaHardRow {
  model: string;
  /** Predicted win rate against the baseline, in percent. */
  score: number;
  /** The 2.5 / 97.5 percentiles of the bootstrapped ratings, as win rates; NaN when a resample lacked the model. */
  lower: number;
  upper: number;
  /** Bradley-Terry rating on the Elo scale, the baseline at 1000. */
  rating: number;
  /** Battle rows from the model's side (a strong verdict is `strongWeight` rows). */
  wins: number;
  losses: number;
  ties: number;
  /** Games without a usable verdict: dropped, as the official script does. */
  invalid: number;
}

export interface ArenaHardOptions {
  baseline: string;
  rounds?: number;
  seed?: number;
  strongWeight?: number;
}

/**
 * show_result.py of lmarena/arena-hard-auto at e8834103: battles in judgment order, one
 * Bradley-Terry fit for the score, and `rounds` fits on resamples of the battle rows drawn after
 * `np.random.seed(seed)` for the interval. The judgments' order is part of the result: it decides
 * which row each random position picks.
 */
export function arenaHardScores(judgments: readonly Judgment[], options: ArenaHardOptions): ArenaHardRow[] {
  const { baseline, rounds = 100, seed = 42, strongWeight = STRONG_WEIGHT } = options;
  const battles = judgments.flatMap((j) => battlesOf(j, baseline, strongWeight));
  const point = fitBradleyTerry(battles, baseline);
  const relative = (ratings: Map<string, number>, model: string) =>
    (ratings.get(model) ?? Number.NaN) - (ratings.get(baseline) ?? ARENA_SCALE.init) + ARENA_SCALE.init;
  const samples = bootstrap(battles, rounds, seed, (sample) => fitBradleyTerry(sample, baseline));
  const winRate = (rating: number) => 100 * expectedWinRate(rating, ARENA_SCALE.init);
  const models = [...new Set(judgments.map((j) => j.model))].filter((m) => m !== baseline).sort();
  return models.map((model) => {
    const mine = battles.filter((b) => b.modelB === model);
    const count = (winner: Battle['winner']) => mine.filter((b) => b.winner === winner).length;
    // As the official script: percentiles of the bootstrapped ratings, each then turned into a win rate.
    const ratings = samples.map((r) => relative(r, model));
    return {
      model,
      score: winRate(relative(point, model)),
      lower: winRate(percentile(ratings, 2.5)),
      upper: winRate(percentile(ratings, 97.5)),
      rating: relative(point, model),
      wins: count('b'),
      losses: count('a'),
      ties: count('tie'),
      invalid: judgments
        .filter((j) => j.model === model)
        .flatMap((j) => j.games)
        .filter((g) => g === null).length,
    };
  });
}
