import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { formatIssues, parseRunConfig, type RunConfig } from '../core/config.js';
import {
  GenerationFlag,
  GenerationRecordSchema,
  ManifestSchema,
  PairRecordSchema,
  ScoreRecordSchema,
  type Manifest,
  type PairRecord,
  type ScoreRecord,
} from '../core/records.js';
import { SuiteSummarySchema, type SuiteSummary } from '../core/suites.js';
import { DataError, exists } from '../storage/files.js';
import { manifestPath } from '../storage/manifests.js';
import { readAll, readJsonl } from '../storage/jsonl.js';
import { parseTrainerLog } from '../core/trainer-log.js';

/**
 * Reads what a run left under <artifactRoot>/<runId>. Paths are taken relative to the run directory, not
 * from manifest URIs, so a copied or moved run reads the same. A step counts as done when its manifest
 * (written last) exists: a running iteration yields the steps it has finished and nothing half-written.
 */

/** evaluation.json as summarizeEvaluation writes it; `missing` counts unjudged prompts per round. */
const EvaluationFileSchema = z.object({
  prompts: z.int().min(0),
  accuracy: z.array(z.number().min(0).max(1)).min(1),
  missing: z.array(z.int().min(0)).optional(),
  wallMs: z.number(),
});
type Evaluation = z.infer<typeof EvaluationFileSchema>;

const JobFileSchema = z.object({ jobKey: z.string(), startedAt: z.string(), attempt: z.int() });

export interface Training {
  jobKey: string;
  dir: string;
  state: 'running' | 'finished' | 'failed';
  exitCode: number | null;
  /** One entry per metrics dict in the trainer log, in order (the last one is the run summary). */
  log: Record<string, number>[];
}

/** What a phase's finished generations look like: the share cut at maxTokens is the first thing to check. */
export interface GenerationQuality {
  phase: 'train' | 'eval';
  responses: number;
  /** Responses carrying each flag (empty, truncated, unchanged refinement, refused). */
  flags: Record<z.infer<typeof GenerationFlag>, number>;
}

/** How many pairs the report shows as examples, per iteration. */
const EXAMPLE_PAIRS = 3;

export interface IterationData {
  iteration: number;
  dir: string;
  quality: GenerationQuality[];
  /** The first few rows of pairs.jsonl. */
  examplePairs: PairRecord[];
  trainScores: ScoreRecord[];
  evalScores: ScoreRecord[];
  /** The training prompts' manifest: its stats count the prompts dropped as contaminated. */
  prompts: Manifest | null;
  pairs: Manifest | null;
  training: Training | null;
  evaluation: Evaluation | null;
  /** The benchmark suites scored so far (iter-t/suite-<name>/summary.json). */
  suites: SuiteSummary[];
}

export interface RunData {
  runId: string;
  dir: string;
  config: RunConfig;
  iterations: IterationData[];
}

async function readText(path: string): Promise<string> {
  return readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new DataError(
      err.code === 'ENOENT' ? `${path}: missing` : `${path}: cannot be read (${err.message})`,
    );
  });
}

async function readJsonFile<T>(path: string, schema: z.ZodType<T>): Promise<T> {
  let json: unknown;
  try {
    json = JSON.parse(await readText(path));
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new DataError(formatIssues(parsed.error, json, path));
  return parsed.data;
}

/** A finished JSONL artifact: its manifest must exist and agree with the rows on disk. */
async function readFinished<T>(
  dataPath: string,
  schema: z.ZodType<T>,
): Promise<{ manifest: Manifest; rows: T[] }> {
  const manifest = await readJsonFile(manifestPath(dataPath), ManifestSchema);
  const rows = await readAll(dataPath, schema).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ENOENT' ? new DataError(`${dataPath}: missing (its manifest exists)`) : err;
  });
  if (rows.length !== manifest.rows)
    throw new DataError(`${dataPath}: has ${rows.length} rows, its manifest says ${manifest.rows}`);
  return { manifest, rows };
}

async function listDir(path: string): Promise<string[]> {
  return (await exists(path)) ? (await readdir(path)).sort() : [];
}

/** Scores of every judged shard of one phase; a shard still being judged has no manifest yet. */
async function readScores(dir: string): Promise<ScoreRecord[]> {
  const shards = (await listDir(dir))
    .map((name) => /^(shard-\d+\.jsonl)\.manifest\.json$/.exec(name)?.[1])
    .filter((name): name is string => name !== undefined);
  const scores: ScoreRecord[] = [];
  for (const name of shards) scores.push(...(await readFinished(join(dir, name), ScoreRecordSchema)).rows);
  return scores;
}

/** The first `n` rows of a JSONL file, without reading the rest (a pairs file can be large). */
async function firstRows<T>(path: string, schema: z.ZodType<T>, n: number): Promise<T[]> {
  const rows: T[] = [];
  for await (const row of readJsonl(path, schema)) {
    rows.push(row);
    if (rows.length === n) break;
  }
  return rows;
}

/** Flag counts over the finished shards of a phase's sample and refine steps. */
async function readQuality(
  dir: string,
  phase: GenerationQuality['phase'],
): Promise<GenerationQuality | null> {
  const flags = Object.fromEntries(GenerationFlag.options.map((f) => [f, 0])) as GenerationQuality['flags'];
  let responses = 0;
  for (const step of ['sample', 'refine']) {
    const stepDir = join(dir, phase, step);
    for (const name of await listDir(stepDir)) {
      const shard = /^(shard-\d+\.jsonl)\.manifest\.json$/.exec(name)?.[1];
      if (!shard) continue;
      for (const row of (await readFinished(join(stepDir, shard), GenerationRecordSchema)).rows) {
        responses++;
        for (const flag of row.flags) flags[flag]++;
      }
    }
  }
  return responses > 0 ? { phase, responses, flags } : null;
}

/** The iteration's training job (the latest started, if a changed input made a second one). */
async function readTraining(dir: string): Promise<Training | null> {
  const jobs: { dir: string; job: z.infer<typeof JobFileSchema> }[] = [];
  for (const name of await listDir(dir)) {
    const jobPath = join(dir, name, 'job.json');
    if (await exists(jobPath))
      jobs.push({ dir: join(dir, name), job: await readJsonFile(jobPath, JobFileSchema) });
  }
  const latest = jobs.sort((a, b) => a.job.startedAt.localeCompare(b.job.startedAt)).at(-1);
  if (!latest) return null;
  const logPath = join(latest.dir, 'train.log');
  const log = (await exists(logPath)) ? parseTrainerLog(await readText(logPath)) : [];
  const exitPath = join(latest.dir, 'exit_code');
  let exitCode: number | null = null;
  if (await exists(exitPath)) {
    const text = (await readText(exitPath)).trim();
    if (!/^\d+$/.test(text)) throw new DataError(`${exitPath}: expected an exit status, found "${text}"`);
    exitCode = Number(text);
  }
  return {
    jobKey: latest.job.jobKey,
    dir: latest.dir,
    state: exitCode === null ? 'running' : exitCode === 0 ? 'finished' : 'failed',
    exitCode,
    log,
  };
}

async function readSuites(dir: string): Promise<SuiteSummary[]> {
  const suites: SuiteSummary[] = [];
  for (const name of await listDir(dir)) {
    const path = join(dir, name, 'summary.json');
    if (name.startsWith('suite-') && (await exists(path)))
      suites.push(await readJsonFile(path, SuiteSummarySchema));
  }
  return suites;
}

async function readIteration(runDir: string, iteration: number): Promise<IterationData> {
  const dir = join(runDir, `iter-${iteration}`);
  const pairsPath = join(dir, 'train', 'pairs', 'pairs.jsonl');
  const promptsPath = join(dir, 'train', 'prompts.jsonl');
  const evaluationPath = join(dir, 'eval', 'evaluation.json');
  const pairsDone = await exists(manifestPath(pairsPath));
  const quality = [await readQuality(dir, 'train'), await readQuality(dir, 'eval')];
  return {
    iteration,
    dir,
    quality: quality.filter((q): q is GenerationQuality => q !== null),
    examplePairs: pairsDone ? await firstRows(pairsPath, PairRecordSchema, EXAMPLE_PAIRS) : [],
    trainScores: await readScores(join(dir, 'train', 'judge')),
    evalScores: await readScores(join(dir, 'eval', 'judge')),
    prompts: (await exists(manifestPath(promptsPath)))
      ? await readJsonFile(manifestPath(promptsPath), ManifestSchema)
      : null,
    pairs: pairsDone ? await readJsonFile(manifestPath(pairsPath), ManifestSchema) : null,
    training: await readTraining(join(dir, 'train', 'checkpoint')),
    evaluation: (await exists(evaluationPath))
      ? await readJsonFile(evaluationPath, EvaluationFileSchema)
      : null,
    suites: await readSuites(dir),
  };
}

export async function readRun(runDir: string): Promise<RunData> {
  const configPath = join(runDir, 'config.json');
  if (!(await exists(configPath)))
    throw new DataError(`no evolve run at ${runDir}: ${configPath} is missing`);
  const json = await readJsonFile(configPath, z.unknown());
  let config: RunConfig;
  try {
    config = parseRunConfig(json, configPath);
  } catch (err) {
    throw new DataError((err as Error).message);
  }
  const numbers = (await listDir(runDir))
    .map((name) => /^iter-(\d+)$/.exec(name)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  const iterations: IterationData[] = [];
  for (const n of numbers) iterations.push(await readIteration(runDir, n));
  return { runId: config.runId, dir: runDir, config, iterations };
}
