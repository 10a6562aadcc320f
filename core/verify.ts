/** Answer checking for prompts with a gold answer: numeric (GSM8K-style) and MATH-style. */
import {
  extractMathAnswer,
  lastBoxed,
  mathEquivalence,
  normaliseMathAnswer,
  type Equivalence,
} from './math-answer.js';

const NUMBER = /-?\d[\d,]*(?:\.\d+)?/g;

export function normaliseNumber(text: string): number | null {
  const cleaned = text.replace(/[,$\s]/g, '').replace(/\.$/, '');
  if (!/^-?\d+(?:\.\d+)?$/.test(cleaned)) return null;
  return Number(cleaned);
}

export type NumberExtractor = 'strict' | 'boxed' | 'flexible';

/** Each way of reading the final number, on its own (GSM8K results name the one they used). */
export const numberExtractors: Record<NumberExtractor, (text: string) => string | null> = {
  strict: (text) => /####\s*(-?[\d,]*\.?\d+)/.exec(text)?.[1] ?? null,
  boxed: (text) => {
    const boxed = lastBoxed(text);
    return boxed !== null && normaliseNumber(boxed) !== null ? boxed : null;
  },
  flexible: (text) => text.match(NUMBER)?.at(-1) ?? null,
};

export interface Extraction {
  extractor: NumberExtractor;
  value: string;
}

/** Prefers an explicit `#### n`, then the last `\boxed{n}`, then the last number in the text. */
export function extractNumber(text: string): Extraction | null {
  for (const extractor of ['strict', 'boxed', 'flexible'] as const) {
    const value = numberExtractors[extractor](text);
    if (value !== null) return { extractor, value };
  }
  return null;
}

/** Equal as numbers once `,`, `$` and spaces are gone; false when either is not a number. */
export function numbersMatch(value: string, gold: string): boolean {
  const [x, y] = [normaliseNumber(value), normaliseNumber(gold)];
  return x !== null && y !== null && Math.abs(x - y) < 1e-9 * Math.max(1, Math.abs(y));
}

export interface GoldVerdict {
  correct: boolean;
  extracted: string | null;
  /** Which extractor found the answer: scores from different extractors are not comparable. */
  extractor: string | null;
  /** How the answer matched the gold one (MATH only). */
  equivalence?: Equivalence | null;
}

export function verifyNumeric(response: string, gold: string): GoldVerdict {
  const extraction = extractNumber(response);
  return {
    correct: extraction !== null && numbersMatch(extraction.value, gold),
    extracted: extraction?.value ?? null,
    extractor: extraction?.extractor ?? null,
  };
}

/** MATH-style: the last `\boxed{}` (else "the answer is X"), normalised, compared as MATH/PRM800K do. */
export function verifyMath(response: string, gold: string): GoldVerdict {
  const extraction = extractMathAnswer(response);
  if (!extraction) return { correct: false, extracted: null, extractor: null, equivalence: null };
  const equivalence = normaliseMathAnswer(gold) ? mathEquivalence(extraction.value, gold) : null;
  return {
    correct: equivalence !== null,
    extracted: extraction.value,
    extractor: extraction.extractor,
    equivalence,
  };
}

export const verifiers = { numeric: verifyNumeric, math: verifyMath } as const;

/**
 * Pulls a pointwise score out of a judge reply: a bare number ("7", "7/10", "7 out of 10") on the first
 * line, or one labelled "score"/"rating" anywhere. Anything else (a numbered list, prose) is unparseable.
 */
export function parseJudgeScore(reply: string, maxScore: number): number | null {
  const firstLine = reply.trim().split('\n')[0] ?? '';
  const bare = /^\**\s*(\d+(?:\.\d+)?)\s*(?:\/\s*\d+|out of \d+)?\s*\.?\**$/i.exec(firstLine)?.[1];
  const labelled = /(?:score|rating)\s*(?:is|of)?\s*[:=]?\s*\**\s*(\d+(?:\.\d+)?)(?!\s*[.)]\s*\w)/i.exec(
    reply,
  )?.[1];
  const rated = /\brate (?:it|this)(?: response)? (?:an? )?(\d+(?:\.\d+)?)/i.exec(reply)?.[1];
  const candidate = bare ?? labelled ?? rated;
  if (candidate === undefined) return null;
  const value = Number(candidate);
  return Number.isFinite(value) && value >= 1 && value <= maxScore ? value : null;
}
