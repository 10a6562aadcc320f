/**
 * Our evaluation outputs in the official harnesses' input formats, so they can re-judge them:
 * AlpacaEval's model_outputs.json and an Arena-Hard model_answer/<model>.jsonl.
 * Layout read: <run>/iter-<t>/eval/prompts.jsonl and {sample,refine}/shard-*.jsonl, where the
 * answer after r refinements is the generation of chain 0 at step r + 1.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  GenerationRecordSchema,
  PromptRecordSchema,
  type GenerationRecord,
  type PromptRecord,
} from '../../core/records.js';
import { fnv1a64 } from '../../core/templates.js';
import { DataError, exists, writeAtomic } from '../files.js';
import { readAll } from '../jsonl.js';

export const EXPORT_FORMATS = ['alpaca-eval', 'arena-hard'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportRequest {
  runDir: string;
  format: ExportFormat;
  out: string;
  /** Default: the last iteration with an evaluation. */
  iteration?: number;
  /** Refinement rounds applied to the direct answer; default: the most the evaluation has. */
  round?: number;
  /** The generator name written into the file; default `<run>-iter<t>-r<r>`. */
  model?: string;
}

export interface EvaluatedAnswer {
  prompt: PromptRecord;
  answer: string;
}

async function lastIteration(runDir: string): Promise<number> {
  const entries = await readdir(runDir).catch(() => {
    throw new DataError(`run directory not found: ${runDir}`);
  });
  const evaluated: number[] = [];
  for (const name of entries) {
    const t = /^iter-(\d+)$/.exec(name)?.[1];
    if (t && (await exists(join(runDir, name, 'eval', 'prompts.jsonl')))) evaluated.push(Number(t));
  }
  if (evaluated.length === 0) throw new DataError(`${runDir}: no iteration has evaluation outputs yet`);
  return Math.max(...evaluated);
}

async function generationsIn(dir: string): Promise<GenerationRecord[]> {
  if (!(await exists(dir))) return [];
  const files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl')).sort();
  return (await Promise.all(files.map((f) => readAll(join(dir, f), GenerationRecordSchema)))).flat();
}

/** The evaluation prompts with the answer after `round` refinements, in prompt order. */
export async function evaluatedAnswers(
  runDir: string,
  iteration?: number,
  round?: number,
): Promise<{ iteration: number; round: number; answers: EvaluatedAnswer[] }> {
  const t = iteration ?? (await lastIteration(runDir));
  const evalDir = join(runDir, `iter-${t}`, 'eval');
  const promptsPath = join(evalDir, 'prompts.jsonl');
  if (!(await exists(promptsPath)))
    throw new DataError(`${evalDir}: iteration ${t} has no evaluation outputs`);
  const prompts = await readAll(promptsPath, PromptRecordSchema);
  const generations = [
    ...(await generationsIn(join(evalDir, 'sample'))),
    ...(await generationsIn(join(evalDir, 'refine'))),
  ].filter((g) => g.chain === 0);
  const maxRound = Math.max(-1, ...generations.map((g) => g.step - 1));
  const r = round ?? maxRound;
  if (r < 0 || r > maxRound)
    throw new DataError(`${evalDir}: round ${r} not available (the evaluation has rounds 0..${maxRound})`);
  const byPrompt = new Map(generations.filter((g) => g.step === r + 1).map((g) => [g.promptId, g.text]));
  const missing = prompts.filter((p) => !byPrompt.has(p.id));
  if (missing.length > 0)
    throw new DataError(
      `${evalDir}: ${missing.length} of ${prompts.length} prompts have no answer at round ${r} (first: ${missing[0]!.id})`,
    );
  return {
    iteration: t,
    round: r,
    answers: prompts.map((p) => ({ prompt: p, answer: byPrompt.get(p.id)! })),
  };
}

/** AlpacaEval matches outputs to its reference by the instruction text. */
export function toAlpacaEvalOutputs(answers: readonly EvaluatedAnswer[], model: string) {
  return answers.map((a) => ({ instruction: a.prompt.prompt, output: a.answer, generator: model }));
}

/** The Arena-Hard model answer format since v0.1's "reformat" (uid / messages). */
export function toArenaHardAnswers(answers: readonly EvaluatedAnswer[], model: string, tstamp: number) {
  return answers.map((a) => ({
    uid: a.prompt.id,
    ans_id: fnv1a64(`${model}\n${a.prompt.id}\n${a.answer}`),
    model,
    messages: [
      { role: 'user', content: a.prompt.prompt },
      { role: 'assistant', content: { answer: a.answer } },
    ],
    tstamp,
  }));
}

export async function exportEvaluation(request: ExportRequest): Promise<{ rows: number; model: string }> {
  const { iteration, round, answers } = await evaluatedAnswers(
    request.runDir,
    request.iteration,
    request.round,
  );
  const runId = request.runDir.replace(/\/+$/, '').split('/').at(-1)!;
  const model = request.model ?? `${runId}-iter${iteration}-r${round}`;
  const body =
    request.format === 'alpaca-eval'
      ? JSON.stringify(toAlpacaEvalOutputs(answers, model), null, 2) + '\n'
      : toArenaHardAnswers(answers, model, Date.now() / 1000)
          .map((row) => JSON.stringify(row) + '\n')
          .join('');
  await writeAtomic(request.out, body);
  return { rows: answers.length, model };
}
