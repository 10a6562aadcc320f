/**
 * Official benchmark files as prompt records, so a run config can name them directly:
 * GSM8K and MATH JSONL, Arena-Hard question.jsonl (uid/prompt and the older question_id/turns) and
 * AlpacaEval's JSON array. Ids are the benchmark's own where it has them, so exports map back.
 */
import { z } from 'zod';
import type { PromptFileFormat, PromptSource } from '../../core/config.js';
import { PromptRecordSchema, type PromptRecord } from '../../core/records.js';
import { fnv1a64 } from '../../core/templates.js';
import { DataError } from '../files.js';
import { readInputRows, readJsonl } from '../jsonl.js';
import { readJsonArray } from './json-array.js';

const text = z.string().min(1);

const Gsm8kRow = z
  .object({
    question: text,
    answer: text.refine((a) => a.includes('####'), 'a GSM8K solution ending in "#### <answer>"'),
  })
  .transform((r): PromptRecord => ({
    id: `gsm8k-${fnv1a64(r.question)}`,
    prompt: r.question,
    answer: r.answer.split('####').at(-1)!.trim(),
  }));

const MathRow = z
  .object({ problem: text, answer: text, unique_id: text })
  .transform((r): PromptRecord => ({ id: r.unique_id, prompt: r.problem, answer: r.answer }));

const ArenaHardQuestion = z.union([
  z.object({ uid: text, prompt: text }).transform((r): PromptRecord => ({ id: r.uid, prompt: r.prompt })),
  z
    .object({ question_id: text, turns: z.array(z.object({ content: text })).min(1) })
    .transform((r): PromptRecord => ({ id: r.question_id, prompt: r.turns[0]!.content })),
]);

const AlpacaEvalInstruction = z.object({ instruction: text, dataset: z.string().optional() });

const jsonlSchemas: Record<Exclude<PromptFileFormat, 'alpaca-eval'>, z.ZodType<PromptRecord>> = {
  evolve: PromptRecordSchema,
  gsm8k: Gsm8kRow,
  math: MathRow,
  'arena-hard': ArenaHardQuestion,
};

/**
 * A prompt file's records in order, streamed: a JSONL file row by row (only the row cap applies, so a
 * training set of any size passes through a small heap); AlpacaEval's JSON array is parsed whole (capped).
 */
async function* records(path: string, format: PromptFileFormat): AsyncGenerator<PromptRecord> {
  if (format !== 'alpaca-eval') return yield* readJsonl(path, jsonlSchemas[format]);
  // AlpacaEval has no ids: the position in its fixed 805-instruction list is the id.
  for (const [i, r] of (await readJsonArray(path, AlpacaEvalInstruction)).entries())
    yield { id: `alpaca-eval-${i}`, prompt: r.instruction };
}

/** The prompts of a `file` source, in its format, cut to `limit`, streamed (see `records`). */
export async function* streamPromptFile(
  source: Extract<PromptSource, { kind: 'file' }>,
): AsyncGenerator<PromptRecord> {
  const limit = source.limit ?? Infinity;
  let read = 0;
  try {
    // Rows past `limit` are still read: a malformed file is refused whatever the limit.
    for await (const row of records(source.path, source.format ?? 'evolve')) if (read++ < limit) yield row;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError(`prompt file not found: ${source.path}`);
    // Retrying will not make a directory a file: bad data, failed at once.
    if (code === 'EISDIR' || code === 'EACCES' || code === 'ENOTDIR')
      throw new DataError(`prompt file ${source.path} cannot be read: ${(err as Error).message}`);
    throw err;
  }
}

const ArenaHardAnswer = z.union([
  z
    .object({
      uid: text,
      model: text,
      messages: z
        .array(
          z.object({ role: z.string(), content: z.union([z.string(), z.object({ answer: z.string() })]) }),
        )
        .refine((m) => m.at(-1)?.role === 'assistant', 'the last message is the assistant answer'),
    })
    .transform((r) => {
      const content = r.messages.at(-1)!.content;
      return { id: r.uid, model: r.model, answer: typeof content === 'string' ? content : content.answer };
    }),
  z
    .object({
      question_id: text,
      model_id: text,
      choices: z.array(z.object({ turns: z.array(z.object({ content: z.string() })).min(1) })).min(1),
    })
    .transform((r) => ({ id: r.question_id, model: r.model_id, answer: r.choices[0]!.turns[0]!.content })),
]);
export type ModelAnswer = z.infer<typeof ArenaHardAnswer>;

/** An Arena-Hard model_answer/<model>.jsonl, in the uid/messages or the older question_id/choices format. */
export function readArenaHardAnswers(path: string): Promise<ModelAnswer[]> {
  return readInputRows(path, ArenaHardAnswer);
}

const AlpacaEvalReference = z.object({
  instruction: text,
  output: z.string(),
  dataset: z.string().optional(),
  generator: z.string().optional(),
});

/** A reference (or baseline) answer, with the AlpacaEval fields its annotations.json rows repeat. */
export interface ReferenceAnswer {
  answer: string;
  dataset?: string;
  generator?: string;
}

/**
 * The answer each suite prompt is compared with, by prompt id: AlpacaEval's reference outputs (the
 * `output` of its instruction file) or an Arena-Hard baseline model_answer file.
 */
export async function readReferenceAnswers(
  suite: { kind: 'alpaca-eval'; prompts: string } | { kind: 'arena-hard'; baseline: string },
): Promise<Map<string, ReferenceAnswer>> {
  const path = suite.kind === 'alpaca-eval' ? suite.prompts : suite.baseline;
  const rows = await (
    suite.kind === 'alpaca-eval'
      ? readJsonArray(path, AlpacaEvalReference).then((rs) =>
          rs.map((r, i) => ({
            id: `alpaca-eval-${i}`,
            answer: r.output,
            dataset: r.dataset,
            generator: r.generator,
          })),
        )
      : readArenaHardAnswers(path)
  ).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new DataError(`reference answer file not found: ${path}`);
    throw err;
  });
  return new Map(rows.map(({ id, ...reference }) => [id, reference]));
}
