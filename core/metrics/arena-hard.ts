/**
 * Arena-Hard v0.1 scoring (show_result.py of lmarena/arena-hard-auto): each prompt is judged twice
 * against the baseline with the answer positions swapped, a strong verdict (`A>>B`) counts three
 * times, a Bradley-Terry fit turns the battles into ratings, and the score is the predicted win rate
 * against the baseline, with a 95 % interval from bootstrap resamples of the battles.
 */
import { bootstrap, percentile } from './bootstrap.js';
import { expectedWinRate, fitBradleyTerry, type Battle } from './bradley-terry.js';

export const VERDICTS = ['A>>B', 'A>B', 'A=B', 'B>A', 'B>>A'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** The verdict label in a judgment text (`[[A>B]]`), or null when there is none or they disagree. */
export function parseVerdict(judgment: string): Verdict | null {
  const labels = new Set([...judgment.matchAll(/\[\[([AB<>=]+)\]\]/g)].map((m) => m[1]));
  if (labels.size !== 1) return null;
  const [label] = labels;
  return (VERDICTS as readonly string[]).includes(label!) ? (label as Verdict) : null;
}

/** One row of a judgment file: a model's two games against the baseline on one prompt. */
export interface Judgment {
  questionId: string;
  model: string;
  /** Game 1 has the baseline as assistant A, game 2 has the model as A; null = no usable verdict. */
  games: [Verdict | null, Verdict | null];
}

export const STRONG_WEIGHT = 3;

/** The battles of one judgment, from the point of view of (baseline = a, model = b). */
export function battlesOf(judgment: Judgment, baseline: string, strongWeight = STRONG_WEIGHT): Battle[] {
  return judgment.games.flatMap((verdict, game) => {
    if (verdict === null) return [];
    const baselineIsA = game === 0;
    const strong = verdict === 'A>>B' || verdict === 'B>>A';
    const aSideWins = verdict.startsWith('A>');
    const winner: Battle['winner'] = verdict === 'A=B' ? 'tie' : aSideWins === baselineIsA ? 'a' : 'b';
    return [{ modelA: baseline, modelB: judgment.model, winner, weight: strong ? strongWeight : 1 }];
  });
}

export interface ArenaHardRow {
  model: string;
  /** Predicted win rate against the baseline, in percent. */
  score: number;
  lower: number;
  upper: number;
  /** Weighted counts from the model's side (a strong verdict counts `strongWeight` times). */
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

const winRates = (ratings: Map<string, number>, baseline: string) =>
  new Map(
    [...ratings].map(([m, r]) => [m, 100 * expectedWinRate(r, ratings.get(baseline) ?? 1000)] as const),
  );

export function arenaHardScores(judgments: readonly Judgment[], options: ArenaHardOptions): ArenaHardRow[] {
  const { baseline, rounds = 100, seed = 42, strongWeight = STRONG_WEIGHT } = options;
  const battles = judgments.flatMap((j) => battlesOf(j, baseline, strongWeight));
  const point = winRates(fitBradleyTerry(battles, baseline), baseline);
  // Like the official script, the interval ends are the 2.5/97.5 percentiles of the bootstrapped
  // ratings, each then turned into a win rate.
  const samples = bootstrap(battles, rounds, seed, (sample) => fitBradleyTerry(sample, baseline));
  const models = [...new Set(judgments.map((j) => j.model))].filter((m) => m !== baseline).sort();
  return models.map((model) => {
    const mine = battles.filter((b) => b.modelB === model);
    const count = (winner: Battle['winner']) =>
      mine.filter((b) => b.winner === winner).reduce((s, b) => s + b.weight, 0);
    // A resample without any of the model's battles says nothing about it: left out.
    const ratings = samples
      .filter((r) => r.has(model))
      .map((r) => r.get(model)! - (r.get(baseline) ?? 1000) + 1000);
    const bound = (q: number) => 100 * expectedWinRate(percentile(ratings, q), 1000);
    return {
      model,
      score: point.get(model) ?? Number.NaN,
      lower: bound(2.5),
      upper: bound(97.5),
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
