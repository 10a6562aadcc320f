/** Parsers of LLM-judge replies. Each returns null for a reply it cannot read: never a made-up score. */
import { z } from 'zod';

/** The structured pointwise reply: `{"score": n}` (plus an optional reason). */
export const PointwiseReplySchema = z.object({
  score: z.number().finite(),
  reason: z.string().optional(),
});

export const pointwiseJsonSchema = (maxScore: number) => ({
  name: 'judge_score',
  schema: {
    type: 'object',
    properties: { score: { type: 'integer', minimum: 1, maximum: maxScore } },
    required: ['score'],
    additionalProperties: false,
  },
});

/** A JSON reply (possibly inside a ```json fence) validated by zod and checked against the scale. */
export function parseStructuredScore(reply: string, maxScore: number): number | null {
  const body = /```(?:json)?\s*([\s\S]*?)```/.exec(reply)?.[1] ?? reply;
  let json: unknown;
  try {
    json = JSON.parse(body.trim());
  } catch {
    return null;
  }
  const parsed = PointwiseReplySchema.safeParse(json);
  if (!parsed.success) return null;
  const { score } = parsed.data;
  return score >= 1 && score <= maxScore ? score : null;
}

/** Arena-Hard's verdict labels, from "first much better" to "second much better". */
export const VERDICTS = ['A>>B', 'A>B', 'A=B', 'B>A', 'B>>A'] as const;
export type Verdict = (typeof VERDICTS)[number];

/**
 * The `[[X]]` label of an Arena-Hard judgment: like the official parser, every `[[...]]` in the reply
 * must agree, otherwise the verdict is unreadable.
 */
export function parseVerdictLabel(reply: string): Verdict | null {
  const labels = new Set([...reply.matchAll(/\[\[([AB<>=]+)\]\]/g)].map((m) => m[1]!));
  if (labels.size !== 1) return null;
  const label = [...labels][0]!;
  return (VERDICTS as readonly string[]).includes(label) ? (label as Verdict) : null;
}

/**
 * One game's outcome for the response shown as `position`: Arena-Hard scores a win 1, a tie 0.5, a
 * loss 0, and counts a strong verdict (>>) three times.
 */
export function gameOutcome(verdict: Verdict, position: 'A' | 'B'): { outcome: number; weight: number } {
  const weight = verdict.includes('>>') ? 3 : 1;
  if (verdict === 'A=B') return { outcome: 0.5, weight };
  const winner = verdict.startsWith('A') ? 'A' : 'B';
  return { outcome: winner === position ? 1 : 0, weight };
}

/** Weighted win share over games, as Arena-Hard's single-baseline point estimate. */
export function winShare(games: { outcome: number; weight: number }[]): number {
  const total = games.reduce((n, g) => n + g.weight, 0);
  return games.reduce((n, g) => n + g.outcome * g.weight, 0) / total;
}

/**
 * AlpacaEval's weighted preference: the probability mass of the two output labels in the first
 * token's top logprobs, normalised over the two. Returns P(second label), or null when neither label
 * is among the alternatives.
 */
export function labelPreference(
  alternatives: { token: string; logprob: number }[],
  labels: readonly [string, string],
): number | null {
  const mass = (label: string) =>
    alternatives
      .filter((a) => a.token.trim() === label && Number.isFinite(a.logprob))
      .reduce((n, a) => n + Math.exp(a.logprob), 0);
  const [first, second] = [mass(labels[0]), mass(labels[1])];
  if (first + second === 0) return null;
  return second / (first + second);
}
