/**
 * Readers for the official harnesses' judged outputs: AlpacaEval annotations.json and Arena-Hard
 * model_judgment/<judge>/<model>.jsonl, plus AlpacaEval's instruction_difficulty.csv.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseVerdict, VERDICTS, type Judgment, type Verdict } from '../../core/metrics/arena-hard.js';
import { DataError, readAll } from '../artifacts.js';
import { readJsonArray } from './json-array.js';

const AlpacaAnnotationSchema = z.object({
  instruction: z.string(),
  preference: z
    .number()
    .nullish()
    .describe('1 = output_1 (the reference) better, 2 = output_2 better; missing = no verdict'),
  output_1: z.string().optional(),
  output_2: z.string().optional(),
  generator_1: z.string().optional(),
  generator_2: z.string().optional(),
});

export interface AlpacaAnnotation {
  instruction: string;
  preference: number | null;
  model: string;
  reference: string;
  /** Character lengths of the reference's and the model's outputs, where the file has them. */
  referenceLength: number | null;
  modelLength: number | null;
  /** Index in its file: the official GLM looks the instruction's difficulty up by it. */
  position: number;
}

export async function readAlpacaAnnotations(path: string): Promise<AlpacaAnnotation[]> {
  const rows = await readJsonArray(path, AlpacaAnnotationSchema);
  return rows.map((r, position) => ({
    position,
    instruction: r.instruction,
    preference: r.preference ?? null,
    model: r.generator_2 ?? 'model',
    reference: r.generator_1 ?? 'reference',
    referenceLength: r.output_1?.length ?? null,
    modelLength: r.output_2?.length ?? null,
  }));
}

/** instruction_difficulty.csv: `index,instruction_difficulty` rows, by position in the 805 instructions. */
export async function readInstructionDifficulty(path: string): Promise<number[]> {
  const lines = (await readFile(path, 'utf8')).split(/\r?\n/);
  const difficulty: number[] = [];
  lines.forEach((line, i) => {
    if (i === 0 || line.trim() === '') return;
    const [index, value] = line.split(',');
    const position = Number(index);
    const gamma = Number(value);
    if (!Number.isInteger(position) || !Number.isFinite(gamma) || value === undefined)
      throw new DataError(`${path}:${i + 1}: expected "<index>,<instruction_difficulty>", got "${line}"`);
    difficulty[position] = gamma;
  });
  return difficulty;
}

const verdictLabel = z
  .string()
  .nullable()
  .transform((s) => (s !== null && (VERDICTS as readonly string[]).includes(s) ? (s as Verdict) : null));
const GameSchema = z.object({
  score: verdictLabel.optional(),
  judgment: z.union([z.string(), z.object({ answer: z.string() })]).optional(),
});
const JudgmentSchema = z
  .object({
    question_id: z.string().optional(),
    uid: z.string().optional(),
    model: z.string().min(1),
    games: z.array(GameSchema).length(2, 'two games: the baseline as A, then the model as A'),
  })
  .refine((r) => (r.question_id ?? r.uid) !== undefined, 'a "question_id" or "uid"')
  .transform((r): Judgment => ({
    questionId: (r.question_id ?? r.uid)!,
    model: r.model,
    games: r.games.map((g) => {
      if (g.score !== undefined) return g.score;
      // Files without a parsed score: take the label from the judge's text, as the official script does.
      const text = typeof g.judgment === 'string' ? g.judgment : (g.judgment?.answer ?? '');
      return parseVerdict(text);
    }) as Judgment['games'],
  }));

/** Judgment rows from files and directories (every *.jsonl under a directory). */
export async function readArenaHardJudgments(paths: readonly string[]): Promise<Judgment[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => {
      throw new DataError(`judgment file or directory not found: ${path}`);
    });
    if (!info.isDirectory()) files.push(path);
    else
      files.push(
        ...(await readdir(path, { recursive: true }))
          .filter((f) => f.endsWith('.jsonl'))
          .sort()
          .map((f) => join(path, f)),
      );
  }
  if (files.length === 0) throw new DataError(`no .jsonl judgment files in ${paths.join(', ')}`);
  return (await Promise.all(files.map((f) => readAll(f, JudgmentSchema)))).flat();
}
