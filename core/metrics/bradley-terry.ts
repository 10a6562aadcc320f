/**
 * Bradley-Terry ratings on the Elo scale, fitted like Arena-Hard's `compute_mle_elo`: the maximum
 * likelihood of a logistic model without intercept or penalty, where a tie counts as half a win for
 * each side, ratings are `scale * log_base(strength) + init`, and the baseline is anchored at `init`.
 */
import { sigmoid, solve } from './logistic.js';

export interface Battle {
  modelA: string;
  modelB: string;
  winner: 'a' | 'b' | 'tie';
}

export interface EloScale {
  scale: number;
  base: number;
  init: number;
}
export const ARENA_SCALE: EloScale = { scale: 400, base: 10, init: 1000 };

/** Probability that a player rated `rating` beats one rated `opponent`. */
export function expectedWinRate(rating: number, opponent: number, elo: EloScale = ARENA_SCALE): number {
  return 1 / (1 + elo.base ** ((opponent - rating) / elo.scale));
}

export function fitBradleyTerry(
  battles: readonly Battle[],
  baseline: string,
  elo: EloScale = ARENA_SCALE,
): Map<string, number> {
  const models = [...new Set(battles.flatMap((b) => [b.modelA, b.modelB]))].sort();
  const index = new Map(models.map((m, i) => [m, i]));
  // wins[i][j]: wins of i over j, a tie giving half to each side.
  const wins = models.map(() => models.map(() => 0));
  for (const b of battles) {
    const a = index.get(b.modelA)!;
    const c = index.get(b.modelB)!;
    if (a === c) continue;
    const aWins = b.winner === 'a' ? 1 : b.winner === 'tie' ? 0.5 : 0;
    wins[a]![c]! += aWins;
    wins[c]![a]! += 1 - aWins;
  }
  // The official fit is a logistic regression on rating differences (sklearn, no penalty). The same
  // maximum by Newton's method over the pairs that met: the Hessian is their weighted graph
  // Laplacian. Model 0 is held at 0 (ratings only differ by an offset, fixed below); a tiny ridge
  // keeps models that never met it, directly or not, solvable.
  const pairs: { i: number; j: number; games: number; iWins: number }[] = [];
  models.forEach((_, i) =>
    models.forEach((__, j) => {
      const games = wins[i]![j]! + wins[j]![i]!;
      if (i < j && games > 0) pairs.push({ i, j, games, iWins: wins[i]![j]! });
    }),
  );
  const totalGames = pairs.reduce((s, p) => s + p.games, 0);
  const ridge = 1e-12 * Math.max(1, totalGames);
  const logStrength = models.map(() => 0);
  for (let iteration = 0; iteration < 200; iteration++) {
    const gradient = logStrength.map((s) => ridge * s);
    const hessian = models.map((_, i) => models.map((__, j) => (i === j ? ridge : 0)));
    for (const { i, j, games, iWins } of pairs) {
      const p = sigmoid(logStrength[i]! - logStrength[j]!);
      const g = games * p - iWins;
      const v = games * p * (1 - p);
      gradient[i]! += g;
      gradient[j]! -= g;
      hessian[i]![i]! += v;
      hessian[j]![j]! += v;
      hessian[i]![j]! -= v;
      hessian[j]![i]! -= v;
    }
    // A model that never won (or never lost) has no finite maximum: stop once the gradient is flat.
    gradient[0] = 0;
    hessian[0] = models.map((_, j) => (j === 0 ? 1 : 0));
    hessian.forEach((row, i) => i > 0 && (row[0] = 0));
    if (Math.max(...gradient.map(Math.abs)) < 1e-12 * Math.max(1, totalGames)) break;
    const step = solve(hessian, gradient);
    logStrength.forEach((_, m) => (logStrength[m]! -= step[m]!));
  }
  const ratings = logStrength.map((s) => (elo.scale * s) / Math.log(elo.base) + elo.init);
  const anchor = index.has(baseline) ? ratings[index.get(baseline)!]! - elo.init : 0;
  return new Map(models.map((m, i) => [m, ratings[i]! - anchor]));
}
