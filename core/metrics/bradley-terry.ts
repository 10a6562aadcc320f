/**
 * Bradley-Terry ratings on the Elo scale, fitted like Arena-Hard's `compute_mle_elo`: the maximum
 * likelihood of a logistic model without intercept or penalty, where a tie counts as half a win for
 * each side, ratings are `scale * log_base(strength) + init`, and the baseline is anchored at `init`.
 */

export interface Battle {
  modelA: string;
  modelB: string;
  winner: 'a' | 'b' | 'tie';
  /** How many times this battle counts (Arena-Hard counts a strong verdict three times). */
  weight: number;
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
  // wins[i][j]: weighted wins of i over j, a tie giving half to each side.
  const wins = models.map(() => models.map(() => 0));
  for (const b of battles) {
    const a = index.get(b.modelA)!;
    const c = index.get(b.modelB)!;
    if (a === c) continue;
    const aWins = b.winner === 'a' ? 1 : b.winner === 'tie' ? 0.5 : 0;
    wins[a]![c]! += aWins * b.weight;
    wins[c]![a]! += (1 - aWins) * b.weight;
  }
  // Zermelo's MM iteration for the strengths; it converges to the same maximum as the logistic fit.
  let strength = models.map(() => 1);
  for (let iteration = 0; iteration < 10_000; iteration++) {
    const next = strength.map((_, i) => {
      let won = 0;
      let denominator = 0;
      for (let j = 0; j < models.length; j++) {
        if (i === j) continue;
        const games = wins[i]![j]! + wins[j]![i]!;
        if (games === 0) continue;
        won += wins[i]![j]!;
        denominator += games / (strength[i]! + strength[j]!);
      }
      return denominator === 0 ? strength[i]! : Math.max(won, 1e-300) / denominator;
    });
    const norm = Math.exp(next.reduce((s, v) => s + Math.log(v), 0) / next.length);
    const normalised = next.map((v) => v / norm);
    const change = Math.max(...normalised.map((v, i) => Math.abs(Math.log(v / strength[i]!))));
    strength = normalised;
    if (change < 1e-12) break;
  }
  const ratings = strength.map((s) => (elo.scale * Math.log(s)) / Math.log(elo.base) + elo.init);
  const anchor = index.has(baseline) ? ratings[index.get(baseline)!]! - elo.init : 0;
  return new Map(models.map((m, i) => [m, ratings[i]! - anchor]));
}
