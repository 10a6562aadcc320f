import type { Manifest, ScoreRecord } from '../core/records.js';
import type { ScoredGeneration } from '../core/strategies.js';
import { readManifestRows } from '../storage/manifests.js';

/** Every response with its score (undefined where unjudged), grouped by prompt id. */
export async function readScoredByPrompt(
  generations: Manifest[],
  scores: Manifest[],
): Promise<Map<string, ScoredGeneration[]>> {
  const scoreOf = new Map<string, ScoreRecord>();
  for (const m of scores) for (const s of await readManifestRows(m, 'score')) scoreOf.set(s.generationId, s);
  const byPrompt = new Map<string, ScoredGeneration[]>();
  for (const m of generations) {
    for (const generation of await readManifestRows(m, 'generation')) {
      const list = byPrompt.get(generation.promptId) ?? [];
      list.push({ generation, score: scoreOf.get(generation.id) });
      byPrompt.set(generation.promptId, list);
    }
  }
  return byPrompt;
}
