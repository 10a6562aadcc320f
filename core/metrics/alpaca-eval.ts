import { fitL1Logistic, liblinearSeeds } from './liblinear.js';
import { fitLogistic, sigmoid } from './logistic.js';

/**
 * AlpacaEval 2 metrics (tatsu-lab/alpaca_eval, metrics/helpers.py and metrics/glm_winrate.py).
 * A preference is in [1, 2]: 1 = the reference (output_1) is better, 2 = the model (output_2) is;
 * 0 and 1.5 are draws; null (no verdict) rows are dropped from the win rate.
 */

export interface HeadToHead {
  winRate: number;
  standardError: number;
  nWins: number;
  nWinsBase: number;
  nDraws: number;
  nTotal: number;
  /** Each preference rounded to a win, loss or draw. */
  discreteWinRate: number;
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
/** Sample standard deviation (ddof 1), as pandas' `std`. */
export function sampleStd(xs: readonly number[]): number {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}

const isDraw = (p: number) => p === 0 || p === 1.5;
/** Python's round(): half to even. */
const roundHalfEven = (x: number) => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

export function headToHead(preferences: readonly (number | null)[]): HeadToHead {
  const valid = preferences
    .filter((p): p is number => p !== null && Number.isFinite(p))
    .map((p) => (p === 0 ? 1.5 : p))
    .filter((p) => p >= 1 && p <= 2);
  const shifted = valid.map((p) => p - 1);
  const discrete = valid.map((p) => (isDraw(p) ? 0.5 : roundHalfEven(p) - 1));
  return {
    winRate: 100 * mean(shifted),
    standardError: (100 * sampleStd(shifted)) / Math.sqrt(shifted.length),
    nWins: shifted.filter((p) => p > 0.5).length,
    nWinsBase: shifted.filter((p) => p < 0.5).length,
    nDraws: valid.filter(isDraw).length,
    nTotal: valid.length,
    discreteWinRate: 100 * mean(discrete),
  };
}

/** Python's `len` of a string: code points, where JavaScript's `length` counts UTF-16 units. */
export function codePointLength(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** The official `avg_length`: `int(model_outputs["output"].str.len().mean())`, code points, truncated. */
export function averageLength(outputs: readonly string[]): number | null {
  if (outputs.length === 0) return null;
  return Math.trunc(outputs.reduce((s, o) => s + codePointLength(o), 0) / outputs.length);
}

/** One instruction for the length-controlled win rate; lengths in code points. */
export interface LengthRow {
  preference: number | null;
  referenceLength: number;
  modelLength: number;
  /** The instruction's difficulty `gamma_x` (the official instruction_difficulty.csv). */
  difficulty: number;
}

/** A row of the official df_gamed.csv: a length-gamed baseline's game, already on the [0, 1] scale. */
export interface GamedRow {
  preference: number;
  stdDeltaLen: number;
  difficulty: number;
}

/**
 * The GLM behind the length-controlled win rate, as glm_winrate.py fits it:
 * v1: `length_controlled_v1`, the leaderboard's: L1 (liblinear) with C chosen by LogisticRegressionCV
 *   over GroupKFold(5), the rows of df_gamed.csv added with weight 0.1;
 * noreg: `length_controlled_noreg`: the same fit without the gamed rows;
 * unpenalised: the plain maximum-likelihood fit (no penalty, no gamed rows).
 */
export const LC_MODES = ['v1', 'noreg', 'unpenalised'] as const;
export type LcMode = (typeof LC_MODES)[number];

export interface LengthControlled {
  lengthControlledWinRate: number;
  /** `pd.Series(predicted).sem() * 100`: the spread of the per-instruction predictions. */
  lcStandardError: number;
  /** The fitted weights: length term, difficulty term, model term. */
  weights: { length: number; difficulty: number; model: number };
  /** The L1 strength the cross-validation chose (v1, noreg). */
  C?: number;
}

/** glm_winrate.py's `regularize_to_baseline_lambda` / 2 (two gamed baselines). */
const GAMED_WEIGHT = 0.2 / 2;
/** LogisticRegressionCV(Cs=10): np.logspace(-4, 4, 10). */
export const LC_CS = Array.from({ length: 10 }, (_, i) => 10 ** (-4 + (8 * i) / 9));
const LC_FOLDS = 5;
/** fit_LogisticRegressionCV's `random_state=123`: the seed of each C's liblinear fit. */
const LC_SEEDS = liblinearSeeds(123, LC_CS.length);

/** logloss_continuous of glm_winrate.py: weighted log loss with fractional targets, mean over rows. */
function foldLoss(rows: readonly Train[], w: readonly number[]): number {
  const eps = 1e-15;
  const total = rows.reduce((s, r) => {
    const q = Math.min(1 - eps, Math.max(eps, sigmoid(r.x.reduce((t, xi, i) => t + xi * w[i]!, 0))));
    return s + r.weight * (r.target * Math.log(q) + (1 - r.target) * Math.log(1 - q));
  }, 0);
  return total / rows.length;
}

interface Train {
  x: number[];
  target: number;
  weight: number;
}

/**
 * LogisticRegressionCV(penalty="l1", solver="liblinear", fit_intercept=False, Cs=10,
 * cv=GroupKFold(5)) with the official continuous log-loss scorer: the C with the best summed
 * score over the folds, then one fit on all rows. A row is a group (the official duplicates each row
 * into a y=1 and a y=0 copy, kept together). GroupKFold deals equal-sized groups round robin in the
 * order numpy's argsort leaves them, which depends on the CPU's sort; here the order is the one a
 * stable sort gives. Only the choice of C depends on it. Each fold's path fits the Cs in order from
 * one RandomState, so the i-th C gets the i-th seed, and the refit on all rows the first.
 */
function fitCrossValidatedL1(rows: readonly Train[]): { w: number[]; C: number } {
  if (rows.length < LC_FOLDS)
    throw new RangeError(
      `the cross-validated fit needs at least ${LC_FOLDS} judged rows, got ${rows.length}`,
    );
  const fold = (i: number) => (rows.length - 1 - i) % LC_FOLDS;
  const fit = (train: readonly Train[], C: number, seed: number) =>
    fitL1Logistic(
      train.map((r) => r.x),
      train.map((r) => r.target),
      train.map((r) => r.weight),
      C,
      seed,
    );
  const scores = LC_CS.map((C, c) => {
    let sum = 0;
    for (let k = 0; k < LC_FOLDS; k++) {
      const w = fit(
        rows.filter((_, i) => fold(i) !== k),
        C,
        LC_SEEDS[c]!,
      );
      sum += foldLoss(
        rows.filter((_, i) => fold(i) === k),
        w,
      );
    }
    return sum;
  });
  const best = scores.indexOf(Math.max(...scores));
  return { w: fit(rows, LC_CS[best]!, LC_SEEDS[0]!), C: LC_CS[best]! };
}

/**
 * The length-controlled win rate of glm_winrate.py's `get_length_controlled_winrate`: fit
 * `preference ~ tanh(std_delta_len) + instruction_difficulty + not_gamed_baseline - 1` (std_delta_len:
 * the reference's length minus the model's over their sample standard deviation), then average the
 * prediction over every instruction with the length difference set to 0.
 */
export function lengthControlledWinRate(
  rows: readonly LengthRow[],
  mode: LcMode = 'unpenalised',
  gamed: readonly GamedRow[] = [],
): LengthControlled {
  const deltas = rows.map((r) => r.referenceLength - r.modelLength);
  const std = sampleStd(deltas) || 1;
  const judged = rows
    .map((r, i): Train & { preference: number | null } => ({
      preference: r.preference,
      x: [Math.tanh(deltas[i]! / std), r.difficulty, 1],
      target: r.preference === 0 ? 0.5 : (r.preference ?? Number.NaN) - 1,
      weight: 1,
    }))
    .filter((t) => t.preference !== null && Number.isFinite(t.preference));
  let fitted: { w: number[]; C?: number };
  if (mode === 'unpenalised')
    fitted = {
      w: fitLogistic(
        judged.map((t) => t.x),
        judged.map((t) => t.target),
      ),
    };
  else {
    const gamedRows =
      mode === 'v1'
        ? gamed.map((g) => ({
            x: [Math.tanh(g.stdDeltaLen), g.difficulty, 0],
            target: g.preference,
            weight: GAMED_WEIGHT,
          }))
        : [];
    // The official trains on the gamed rows first, then the model's: the order sets the folds.
    fitted = fitCrossValidatedL1([...gamedRows, ...judged]);
  }
  const [length, difficulty, model] = fitted.w as [number, number, number];
  const predictions = rows.map((r) => sigmoid(model + difficulty * r.difficulty));
  return {
    lengthControlledWinRate: 100 * mean(predictions),
    lcStandardError: (100 * sampleStd(predictions)) / Math.sqrt(predictions.length),
    weights: { length, difficulty, model },
    ...(fitted.C === undefined ? {} : { C: fitted.C }),
  };
}

/**
 * The LC win rate from published fitted weights, as glm_winrate.py's `predict_winrate`: the mean
 * over the instructions of sigmoid(delta model term + delta difficulty term * difficulty), deltas
 * being the model's weights minus the baseline's.
 */
export function predictedWinRate(
  model: { difficulty: number; model: number },
  baseline: { difficulty: number; model: number },
  difficulties: readonly number[],
): number {
  const dModel = model.model - baseline.model;
  const dDifficulty = model.difficulty - baseline.difficulty;
  return 100 * mean(difficulties.map((d) => sigmoid(dModel + dDifficulty * d)));
}
