import { join } from 'node:path';
import type { Manifest, ScoreRecord } from '../core/records.js';
import type { EvalSummary, EvaluateInput } from '../core/steps.js';
import { exists, readManifestRows, writeAtomic } from './artifacts.js';
import { readFile } from 'node:fs/promises';

/**
 * Accuracy on the held-out prompts after r = 0..rounds refinements of the first chain (direct answer is
 * r = 0). A prompt whose response at a round is missing or unjudged counts as wrong, and is counted.
 */
export async function summarizeEvaluation(input: EvaluateInput): Promise<EvalSummary> {
  const out = join(input.scope.dir, 'evaluation.json');
  if (await exists(out)) return JSON.parse(await readFile(out, 'utf8')) as EvalSummary;
  const started = Date.now();
  const prompts = await readManifestRows(input.prompts, 'prompt');
  const generations = (
    await Promise.all(input.generations.map((m: Manifest) => readManifestRows(m, 'generation')))
  ).flat();
  const scores = new Map<string, ScoreRecord>();
  for (const m of input.scores)
    for (const s of await readManifestRows(m, 'score')) scores.set(s.generationId, s);
  const byKey = new Map(generations.map((g) => [`${g.promptId}/${g.chain}/${g.step}`, g]));
  const accuracy: number[] = [];
  const missing: number[] = [];
  for (let round = 0; round <= input.rounds; round++) {
    let correct = 0;
    let absent = 0;
    for (const p of prompts) {
      const g = byKey.get(`${p.id}/0/${round + 1}`);
      const s = g ? scores.get(g.id) : undefined;
      if (!s || s.status !== 'ok') absent++;
      else if (s.score === 1) correct++;
    }
    accuracy.push(prompts.length === 0 ? 0 : correct / prompts.length);
    missing.push(absent);
  }
  const summary: EvalSummary = { uri: out, prompts: prompts.length, accuracy, wallMs: Date.now() - started };
  await writeAtomic(out, JSON.stringify({ ...summary, missing }, null, 2) + '\n');
  return summary;
}
