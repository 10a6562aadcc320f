import { mulberry32 } from './random.js';

/** Fisher-Yates driven by mulberry32(seed): the same order from the same pool and seed, everywhere. */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const random = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Why a pool cannot give `iterations` disjoint slices of `perIteration`, or null when it can. */
export function poolShortfall(pool: number, perIteration: number, iterations: number): string | null {
  const needed = perIteration * iterations;
  return pool >= needed
    ? null
    : `${pool} prompts are too few for ${iterations} iteration(s) x perIteration ${perIteration} = ${needed} disjoint prompts`;
}

/**
 * Iteration t's fresh prompts (t >= 1): the row numbers [(t-1) * perIteration, t * perIteration) of a
 * pool of `poolSize` rows in its seeded shuffle, so the slices of different iterations never share a row
 * and a resumed run gets the same ones. Row numbers, not rows: a pool file is read as a stream, so it is
 * counted first and then only these rows are kept (the shuffle depends on the pool's size alone).
 */
export function iterationSlice(
  poolSize: number,
  { perIteration, seed }: { perIteration: number; seed: number },
  iteration: number,
): { rows: number[]; start: number; end: number } {
  const shortfall = poolShortfall(poolSize, perIteration, iteration);
  if (iteration < 1 || shortfall)
    throw new RangeError(shortfall ?? `no prompt slice for iteration ${iteration}`);
  const start = (iteration - 1) * perIteration;
  const end = start + perIteration;
  const rowNumbers = Array.from({ length: poolSize }, (_, i) => i);
  return { rows: seededShuffle(rowNumbers, seed).slice(start, end), start, end };
}

/** The text two prompts are compared by for decontamination: lower-case, whitespace collapsed. */
export const normalisedPrompt = (text: string) => text.toLowerCase().replace(/\s+/g, ' ').trim();
