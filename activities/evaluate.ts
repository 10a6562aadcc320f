import { join } from 'node:path';
import { selectAnswer } from '../core/strategies.js';
import type { EvalSummary, EvaluateInput } from '../core/steps.js';
import { exists, writeAtomic } from '../storage/files.js';
import { readManifestRows } from '../storage/manifests.js';
import { readScoredByPrompt } from './scored.js';
import { readFile } from 'node:fs/promises';

/**
 * Accuracy on the held-out prompts of the answer the strategy keeps after r = 0..rounds refinements
 * (r = 0: the first answers, e.g. best-of-N for parallel). A prompt with no judged candidate at a round
 * counts as wrong, and is counted as missing. evaluation.json also lists the kept response per prompt and round.
 */
export async function summarizeEvaluation(input: EvaluateInput): Promise<EvalSummary> {
  const out = join(input.scope.dir, 'evaluation.json');
  if (await exists(out)) return JSON.parse(await readFile(out, 'utf8')) as EvalSummary;
  const started = Date.now();
  const { strategy } = input;
  const prompts = await readManifestRows(input.prompts, 'prompt');
  const byPrompt = await readScoredByPrompt(input.generations, input.scores);
  const accuracy: number[] = [];
  const missing: number[] = [];
  const kept: { promptId: string; round: number; generationId: string | null; score: number | null }[] = [];
  for (let round = 0; round <= input.rounds; round++) {
    let correct = 0;
    let absent = 0;
    for (const p of prompts) {
      const answer = selectAnswer(byPrompt.get(p.id) ?? [], strategy.keep, round);
      if (!answer) absent++;
      else if (answer.score.score === 1) correct++;
      kept.push({
        promptId: p.id,
        round,
        generationId: answer?.generation.id ?? null,
        score: answer?.score.score ?? null,
      });
    }
    accuracy.push(prompts.length === 0 ? 0 : correct / prompts.length);
    missing.push(absent);
  }
  const summary: EvalSummary = {
    uri: out,
    prompts: prompts.length,
    accuracy,
    wallMs: Date.now() - started,
    strategy,
  };
  await writeAtomic(out, JSON.stringify({ ...summary, missing, kept }, null, 2) + '\n');
  return summary;
}
