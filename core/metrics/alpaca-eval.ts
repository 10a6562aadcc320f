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

/** One instruction for the length-controlled win rate. */
export interface LengthRow {
  preference: number | null;
  referenceLength: number;
  modelLength: number;
  /** The instruction's difficulty `gamma_x` (the official instruction_difficulty.csv). */
  difficulty: number;
}

export interface LengthControlled {
  lengthControlledWinRate: number;
  /** The fitted weights: length term, difficulty term, model term. */
  weights: { length: number; difficulty: number; model: number };
}

/**
 * The length-controlled win rate: fit `preference ~ tanh(std_delta_len) + difficulty + 1` (the
 * official formula `np.tanh(std_delta_len) + instruction_difficulty + not_gamed_baseline - 1`) on the
 * model's rows, then average the prediction with the length difference set to 0. The official fit
 * adds L1 regularisation with a cross-validated strength and rows of two "gamed" baselines (its
 * df_gamed.csv) with weight 0.1; this fit is unregularised, so it matches only where those terms
 * do not bind.
 */
export function lengthControlledWinRate(rows: readonly LengthRow[]): LengthControlled {
  const deltas = rows.map((r) => r.referenceLength - r.modelLength);
  const std = sampleStd(deltas) || 1;
  const train = rows
    .map((r, i) => ({ r, x: [Math.tanh(deltas[i]! / std), r.difficulty, 1] }))
    .filter(({ r }) => r.preference !== null && Number.isFinite(r.preference));
  const targets = train.map(({ r }) => (r.preference === 0 ? 0.5 : r.preference! - 1));
  const [length, difficulty, model] = fitLogistic(
    train.map((t) => t.x),
    targets,
  ) as [number, number, number];
  const predictions = rows.map((r) => sigmoid(model + difficulty * r.difficulty));
  return { lengthControlledWinRate: 100 * mean(predictions), weights: { length, difficulty, model } };
}
