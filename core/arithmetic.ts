import { mulberry32 } from './random.js';
import type { PromptRecord } from './records.js';

const NAMES = ['Ada', 'Ben', 'Chloe', 'Dev', 'Emma', 'Farid', 'Grace', 'Hugo', 'Ines', 'Jun'];
const ITEMS = ['apples', 'marbles', 'books', 'stickers', 'pencils', 'shells', 'coins', 'cards'];

/** Generated arithmetic word problems with gold answers: the demo's verifiable prompts. */
export function arithmeticProblems(
  count: number,
  seed: number,
  maxOperand: number,
  idPrefix = 'arith',
): PromptRecord[] {
  return [...arithmeticStream(count, seed, maxOperand, idPrefix)];
}

/** The same problems one at a time, for a prompt set too large to build as one array. */
export function* arithmeticStream(
  count: number,
  seed: number,
  maxOperand: number,
  idPrefix = 'arith',
): Generator<PromptRecord> {
  // Demo data must be reproducible from its seed alone.
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  for (let i = 0; i < count; i++) {
    const name = pick(NAMES);
    const item = pick(ITEMS);
    const a = int(2, maxOperand);
    const b = int(1, Math.max(1, a - 1));
    const add = rand() < 0.5;
    const prompt = add
      ? `${name} has ${a} ${item} and gets ${b} more. How many ${item} does ${name} have now? Give the final number.`
      : `${name} has ${a} ${item} and gives away ${b}. How many ${item} does ${name} have left? Give the final number.`;
    yield { id: `${idPrefix}-${seed}-${i}`, prompt, answer: String(add ? a + b : a - b) };
  }
}
