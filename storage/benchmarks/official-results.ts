/**
 * Readers for the official harnesses' judged outputs: AlpacaEval annotations.json and Arena-Hard
 * model_judgment/<judge>/<model>.jsonl, plus AlpacaEval's instruction_difficulty.csv, df_gamed.csv,
 * model_outputs.json and fitted LC weights.
 */
import { opendir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { codePointLength, type GamedRow } from '../../core/metrics/alpaca-eval.js';
import { parseVerdictLabel, VERDICTS, type Verdict } from '../../core/judge-replies.js';
import type { Judgment } from '../../core/metrics/arena-hard.js';
import { checkInputSize, DataError, readInputText } from '../files.js';
import { readJsonlAt } from '../jsonl.js';
import { readJsonArray } from './json-array.js';

const AlpacaAnnotationSchema = z.object({
  instruction: z.string(),
  preference: z
    .number()
    .nullish()
    .refine((p) => p === null || p === undefined || p === 0 || (p >= 1 && p <= 2), {
      message: 'a preference is in [1, 2] (1: output_1 better, 2: output_2 better; 1.5 or 0: a draw)',
    })
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
  /** Code-point lengths (Python's `len`) of the reference's and the model's outputs, where the file has them. */
  referenceLength: number | null;
  modelLength: number | null;
  /** Index in its file: the official GLM looks the instruction's difficulty up by it. */
  position: number;
}

export async function readAlpacaAnnotations(path: string): Promise<AlpacaAnnotation[]> {
  const rows = await readJsonArray(path, AlpacaAnnotationSchema);
  // A win rate of nothing is no number: refused rather than printed as an empty table.
  if (!rows.some((r) => r.preference !== null && r.preference !== undefined))
    throw new DataError(
      rows.length === 0
        ? `${path}: no annotations (an empty array): nothing to score`
        : `${path}: none of its ${rows.length} annotations has a preference (all null or missing): nothing to score`,
    );
  return rows.map((r, position) => ({
    position,
    instruction: r.instruction,
    preference: r.preference ?? null,
    model: r.generator_2 ?? 'model',
    reference: r.generator_1 ?? 'reference',
    referenceLength: r.output_1 === undefined ? null : codePointLength(r.output_1),
    modelLength: r.output_2 === undefined ? null : codePointLength(r.output_2),
  }));
}

/** The outputs of an AlpacaEval model_outputs.json (null where a row has none). */
export async function readModelOutputs(path: string): Promise<string[]> {
  const rows = await readJsonArray(path, z.object({ output: z.string().nullish() }));
  return rows.map((r) => r.output).filter((o): o is string => typeof o === 'string');
}

/**
 * A small CSV (the official difficulty, gamed-rows and weights files: plain, unquoted numbers and
 * names): one record per line, every named column present and non-blank, numbers finite.
 */
async function readNumericCsv(
  path: string,
  columns: readonly string[],
): Promise<{ line: number; key: string; values: Record<string, number>; raw: Record<string, string> }[]> {
  const text = await readInputText(path, 'csv').catch((err: unknown) => {
    throw err instanceof DataError ? err : new DataError(`file not found: ${path}`);
  });
  const lines = text.split(/\r?\n/);
  const header = lines[0]!.split(',');
  for (const column of columns)
    if (!header.includes(column))
      throw new DataError(`${path}:1: no "${column}" column (header: ${lines[0]})`);
  return lines.slice(1).flatMap((line, i) => {
    if (line.trim() === '') return [];
    const where = `${path}:${i + 2}`;
    const cells = line.split(',');
    if (cells.length !== header.length)
      throw new DataError(`${where}: ${cells.length} fields, the header has ${header.length}`);
    const raw = Object.fromEntries(header.map((h, j) => [h, cells[j]!.trim()]));
    const values = Object.fromEntries(
      columns.map((column) => {
        const cell = raw[column]!;
        const value = cell === 'True' ? 1 : cell === 'False' ? 0 : Number(cell);
        if (cell === '') throw new DataError(`${where}: "${column}" is blank`);
        if (!Number.isFinite(value)) throw new DataError(`${where}: "${column}" is not a number: "${cell}"`);
        return [column, value];
      }),
    );
    return [{ line: i + 2, key: cells[0]!.trim(), values, raw }];
  });
}

/** instruction_difficulty.csv: `index,instruction_difficulty` rows, by position in the 805 instructions. */
export async function readInstructionDifficulty(path: string): Promise<number[]> {
  const difficulty: number[] = [];
  for (const row of await readNumericCsv(path, ['index', 'instruction_difficulty'])) {
    const index = row.values.index!;
    if (!Number.isInteger(index) || index < 0)
      throw new DataError(`${path}:${row.line}: "index" is not a row index: ${index}`);
    if (difficulty[index] !== undefined) throw new DataError(`${path}:${row.line}: index ${index} twice`);
    difficulty[index] = row.values.instruction_difficulty!;
  }
  return difficulty;
}

/**
 * The official df_gamed.csv: the rows of the length-gamed baselines (preference already in [0, 1]),
 * and each instruction's difficulty from its first row, which is where the official fit takes it.
 */
export async function readGamedRows(path: string): Promise<{ rows: GamedRow[]; difficulty: number[] }> {
  const rows = await readNumericCsv(path, ['index', 'preference', 'std_delta_len', 'instruction_difficulty']);
  const difficulty: number[] = [];
  for (const row of rows) {
    const { index, preference } = row.values as Record<string, number>;
    if (!Number.isInteger(index) || index! < 0)
      throw new DataError(`${path}:${row.line}: "index" is not a row index: ${index}`);
    if (preference! < 0 || preference! > 1)
      throw new DataError(`${path}:${row.line}: "preference" ${preference} is outside [0, 1]`);
    difficulty[index!] ??= row.values.instruction_difficulty!;
  }
  return {
    rows: rows.map((r) => ({
      preference: r.values.preference!,
      stdDeltaLen: r.values.std_delta_len!,
      difficulty: r.values.instruction_difficulty!,
    })),
    difficulty,
  };
}

export const WEIGHT_COLUMNS = {
  length: 'np.tanh(std_delta_len)',
  difficulty: 'instruction_difficulty',
  model: 'not_gamed_baseline.astype(float)',
} as const;

/** The published fitted LC weights (metrics/weights/.../baseline_<model>.csv), by model. */
export async function readLcWeights(
  path: string,
): Promise<Map<string, { length: number; difficulty: number; model: number }>> {
  const weights = new Map<string, { length: number; difficulty: number; model: number }>();
  for (const row of await readNumericCsv(path, Object.values(WEIGHT_COLUMNS))) {
    if (row.key === '') throw new DataError(`${path}:${row.line}: the model name (first field) is blank`);
    weights.set(row.key, {
      length: row.values[WEIGHT_COLUMNS.length]!,
      difficulty: row.values[WEIGHT_COLUMNS.difficulty]!,
      model: row.values[WEIGHT_COLUMNS.model]!,
    });
  }
  return weights;
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
  .refine((s) => s === null || (VERDICTS as readonly string[]).includes(s) || s in MIRRORED, {
    message: `a verdict label is one of ${[...VERDICTS, ...Object.keys(MIRRORED)].join(', ')} (or null: no verdict)`,
  })
  .transform((s) => (s === null ? null : ((MIRRORED[s] ?? s) as Verdict)));
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
        return parseVerdictLabel(text);
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
    // Rows as they stream: only the judgments are kept, not the file's text.
    await checkInputSize(file, 'jsonl');
    for await (const { row, where } of readJsonlAt(file, JudgmentSchema)) {
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
    }
  }
  // Without one verdict the bootstrap would draw from nothing: refused naming the files.
  if (!judgments.some((j) => j.games.some((g) => g !== null)))
    throw new DataError(
      `${files.join(', ')}: ${judgments.length === 0 ? 'no judgment rows' : `none of its ${judgments.length} rows has a verdict (every game null or unlabelled)`}: nothing to score`,
    );
  return judgments;
}
