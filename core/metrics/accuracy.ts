/**
 * GSM8K and MATH-500 accuracy, one figure per answer extractor: scores read with different extractors
 * are not comparable, so each is applied on its own to every response and reported by name.
 */
import { lastBoxed, mathEquivalence } from '../math-answer.js';
import { numberExtractors, numbersMatch } from '../verify.js';

export interface Graded {
  response: string;
  gold: string;
}

export interface ExtractorAccuracy {
  extractor: string;
  correct: number;
  /** Responses in which the extractor found an answer at all. */
  extracted: number;
  total: number;
  accuracy: number;
}

interface Suite {
  extractors: Record<string, (text: string) => string | null>;
  match: (answer: string, gold: string) => boolean;
}

export const SUITES = {
  gsm8k: { extractors: numberExtractors, match: numbersMatch },
  math: { extractors: { boxed: lastBoxed }, match: (answer, gold) => mathEquivalence(answer, gold) !== null },
} satisfies Record<string, Suite>;
export type AccuracySuite = keyof typeof SUITES;

export function accuracyByExtractor(suite: AccuracySuite, items: readonly Graded[]): ExtractorAccuracy[] {
  const { extractors, match } = SUITES[suite] as Suite;
  return Object.entries(extractors).map(([extractor, extract]) => {
    const answers = items.map((item) => ({ value: extract(item.response), gold: item.gold }));
    const correct = answers.filter((a) => a.value !== null && match(a.value, a.gold)).length;
    return {
      extractor,
      correct,
      extracted: answers.filter((a) => a.value !== null).length,
      total: items.length,
      accuracy: items.length === 0 ? 0 : correct / items.length,
    };
  });
}
