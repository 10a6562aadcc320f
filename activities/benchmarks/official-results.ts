/**
 * Readers for the official harnesses' judged outputs: AlpacaEval annotations.json and Arena-Hard
 * model_judgment/<judge>/<model>.jsonl, plus AlpacaEval's instruction_difficulty.csv.
 */
import { opendir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { parseVerdict, VERDICTS, type Judgment, type Verdict } from '../../core/metrics/arena-hard.js';
import { DataError, parseRow } from '../artifacts.js';
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

// v2.0 files also write a verdict from B's side ("B<A" = "A>B"); both read as the v0.1 label.
const MIRRORED: Record<string, Verdict> = {
  'A<B': 'B>A',
  'A<<B': 'B>>A',
  'B=A': 'A=B',
  'B<A': 'A>B',
  'B<<A': 'A>>B',
};
const verdictLabel = z
  .string()
  .nullable()
  .transform((s) =>
    s === null ? null : (VERDICTS as readonly string[]).includes(s) ? (s as Verdict) : (MIRRORED[s] ?? null),
  );
const GameSchema = z
  .object({
    score: verdictLabel.optional(),
    judgment: z.union([z.string(), z.object({ answer: z.string() })]).optional(),
  })
  .nullable();
const JudgmentSchema = z
  .object({
    question_id: z.string().optional(),
    uid: z.string().optional(),
    model: z.string().min(1),
    baseline: z.string().optional().describe('v2.0 files name the baseline each row was judged against'),
    games: z.array(GameSchema).length(2, 'two games: the baseline as A, then the model as A'),
  })
  .refine((r) => (r.question_id ?? r.uid) !== undefined, 'a "question_id" or "uid"')
  .transform((r) => ({
    baseline: r.baseline,
    judgment: {
      questionId: (r.question_id ?? r.uid)!,
      model: r.model,
      games: r.games.map((g) => {
        if (g === null) return null;
        if (g.score !== undefined) return g.score;
        // Files without a parsed score: take the label from the judge's text, as the official script does.
        const text = typeof g.judgment === 'string' ? g.judgment : (g.judgment?.answer ?? '');
        return parseVerdict(text);
      }) as Judgment['games'],
    } satisfies Judgment,
  }));

/** The *.jsonl files under a directory, in the order the file system lists them (see below). */
async function judgmentFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of await opendir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await judgmentFiles(path)));
    else if (entry.name.endsWith('.jsonl')) files.push(path);
  }
  return files;
}

/**
 * Judgment rows from files and directories, in the order the official script reads them: files in
 * the order given, a directory's files in its listing order, as Python's `glob` returns them (not
 * sorted: the bootstrap draws row positions, so the row order decides the interval). Refuses a
 * (model, question) judged twice and a row judged against another baseline than `baseline`.
 */
export async function readArenaHardJudgments(
  paths: readonly string[],
  baseline: string,
): Promise<Judgment[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => {
      throw new DataError(`judgment file or directory not found: ${path}`);
    });
    files.push(...(info.isDirectory() ? await judgmentFiles(path) : [path]));
  }
  if (files.length === 0) throw new DataError(`no .jsonl judgment files in ${paths.join(', ')}`);
  const seen = new Map<string, string>();
  const judgments: Judgment[] = [];
  for (const file of files) {
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      const where = `${file}:${i + 1}`;
      const row = parseRow(line, JudgmentSchema, where);
      if (row.baseline !== undefined && row.baseline !== baseline)
        throw new DataError(
          `${where}: judged against baseline "${row.baseline}", not the --baseline "${baseline}"`,
        );
      const key = JSON.stringify([row.judgment.model, row.judgment.questionId]);
      const first = seen.get(key);
      if (first)
        throw new DataError(
          `${where}: question "${row.judgment.questionId}" of model "${row.judgment.model}" is judged twice (first at ${first})`,
        );
      seen.set(key, where);
      judgments.push(row.judgment);
    });
  }
  return judgments;
}
