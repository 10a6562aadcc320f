import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Trainer } from '../../core/config.js';
import type { Manifest } from '../../core/records.js';
import { exists, writeAtomic } from '../artifacts.js';

/**
 * The checkpoint registry: recipe.json is written at submit time, checkpoint.json when training has
 * succeeded, both in the job directory next to the checkpoint (output/). Following `parent` from one
 * checkpoint.json to the next gives a checkpoint's whole lineage back to the base model.
 */
export interface Recipe {
  jobKey: string;
  policyModel: string;
  referenceModel: string;
  trainer: Trainer;
  data: { uri: string; sha256: string; rows: number; trainFile: string; trainSha256: string };
  /** What runs: the resumable `trl dpo` command. */
  command: string[];
  /** The same training with OpenRLHF's DPO trainer (multi-node alternative, not run by evolve). */
  openrlhf: string[];
}

export interface CheckpointManifest {
  path: string;
  jobKey: string;
  baseModel: string;
  parent: string;
  referenceModel: string;
  adapter: boolean;
  data: Recipe['data'];
  recipe: { uri: string; sha256: string };
  trainer: { backend: Trainer['backend']; command: string[] };
  versions: Record<string, string>;
  metrics: Record<string, number>;
  createdAt: string;
}

export const sha256 = (content: string | Buffer) => createHash('sha256').update(content).digest('hex');
export const recipePath = (jobDir: string) => join(jobDir, 'recipe.json');
export const checkpointManifestPath = (checkpoint: string) => join(dirname(checkpoint), 'checkpoint.json');

export async function writeRecipe(jobDir: string, recipe: Recipe): Promise<void> {
  await writeAtomic(recipePath(jobDir), JSON.stringify(recipe, null, 2));
}

export function pairsData(pairs: Manifest, trainFile: string, content: string): Recipe['data'] {
  return { uri: pairs.uri, sha256: pairs.sha256, rows: pairs.rows, trainFile, trainSha256: sha256(content) };
}

/** The base model a checkpoint descends from: its parent's, when the parent is itself a checkpoint. */
async function baseModelOf(parent: string): Promise<string> {
  const manifest = checkpointManifestPath(parent);
  if (!(await exists(manifest))) return parent;
  return (JSON.parse(await readFile(manifest, 'utf8')) as CheckpointManifest).baseModel;
}

export async function registerCheckpoint(
  jobDir: string,
  outputDir: string,
  found: { adapter: boolean; versions: Record<string, string>; metrics: Record<string, number> },
): Promise<CheckpointManifest> {
  // Registered once: a retried, reset or reused wait reads the first registration back unchanged.
  const registered = checkpointManifestPath(outputDir);
  if (await exists(registered)) return JSON.parse(await readFile(registered, 'utf8')) as CheckpointManifest;
  const text = await readFile(recipePath(jobDir), 'utf8');
  const recipe = JSON.parse(text) as Recipe;
  const manifest: CheckpointManifest = {
    path: outputDir,
    jobKey: recipe.jobKey,
    baseModel: await baseModelOf(recipe.policyModel),
    parent: recipe.policyModel,
    referenceModel: recipe.referenceModel,
    adapter: found.adapter,
    data: recipe.data,
    recipe: { uri: recipePath(jobDir), sha256: sha256(text) },
    trainer: { backend: recipe.trainer.backend, command: recipe.command },
    versions: found.versions,
    metrics: found.metrics,
    createdAt: new Date().toISOString(),
  };
  await writeAtomic(registered, JSON.stringify(manifest, null, 2));
  return manifest;
}
