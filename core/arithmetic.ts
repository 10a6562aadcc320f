import { mulberry32 } from './random.js';
import type { PromptRecord } from './records.js';

const NAMES = ['Ada', 'Ben', 'Chloe', 'Dev', 'Emma', 'Farid', 'Grace', 'Hugo', 'Ines', 'Jun'];
const ITEMS = ['apples', 'marbles', 'books', 'stickers', 'pencils', 'shells', 'coins', 'cards'];

/** What each problem asks for when its source does not say (ArithmeticSource.ask). */
export const DEFAULT_ASK = 'Give the final number.';

/** Generated arithmetic word problems with gold answers: the demo's verifiable prompts. */
export function arithmeticProblems(...args: Parameters<typeof solvedArithmetic>): PromptRecord[] {
  return [...arithmeticStream(...args)];
}

/** The same problems one at a time, for a prompt set too large to build as one array. */
export function* arithmeticStream(...args: Parameters<typeof solvedArithmetic>): Generator<PromptRecord> {
  for (const { problem } of solvedArithmetic(...args)) yield problem;
}

/**
 * The problems with their short worked answer, `a + b = c`: one line ending in the final number, the
 * answer format stage 0's demonstrations teach (docs/results/micro-reproduction.md).
 */
export function* solvedArithmetic(
  count: number,
  seed: number,
  maxOperand: number,
  idPrefix = 'arith',
  ask = DEFAULT_ASK,
): Generator<{ problem: PromptRecord; solution: string }> {
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
      ? `${name} has ${a} ${item} and gets ${b} more. How many ${item} does ${name} have now? ${ask}`
      : `${name} has ${a} ${item} and gives away ${b}. How many ${item} does ${name} have left? ${ask}`;
    const answer = add ? a + b : a - b;
    yield {
      problem: { id: `${idPrefix}-${seed}-${i}`, prompt, answer: String(answer) },
      solution: `${a} ${add ? '+' : '-'} ${b} = ${answer}`,
    };
  }
}
