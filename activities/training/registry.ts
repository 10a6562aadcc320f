import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CheckpointManifestSchema,
  RecipeSchema,
  type CheckpointManifest,
  type Recipe,
} from '../../core/checkpoint.js';
import type { Manifest } from '../../core/records.js';
import { exists, writeAtomic } from '../../storage/files.js';
import { checkpointManifestPath } from '../../storage/manifests.js';

/**
 * The checkpoint registry (schemas in core/checkpoint.ts): recipe.json at submit time, checkpoint.json
 * once training has succeeded, both in the job directory. Following `parent` from one checkpoint.json to
 * the next gives a checkpoint's whole lineage back to the base model.
 */
export type { CheckpointManifest, Recipe };

export const sha256 = (content: string | Buffer) => createHash('sha256').update(content).digest('hex');
export const recipePath = (jobDir: string) => join(jobDir, 'recipe.json');

export async function writeRecipe(jobDir: string, recipe: Recipe): Promise<void> {
  await writeAtomic(recipePath(jobDir), JSON.stringify(recipe, null, 2));
}

export function trainingData(source: Manifest, trainFile: string, content: string): Recipe['data'] {
  return {
    uri: source.uri,
    sha256: source.sha256,
    rows: source.rows,
    trainFile,
    trainSha256: sha256(content),
  };
}

async function readManifestAt(path: string): Promise<CheckpointManifest> {
  return CheckpointManifestSchema.parse(JSON.parse(await readFile(path, 'utf8')));
}

/** The base model a checkpoint descends from: its parent's, when the parent is itself a checkpoint. */
async function baseModelOf(parent: string): Promise<string> {
  const manifest = checkpointManifestPath(parent);
  if (!(await exists(manifest))) return parent;
  return (await readManifestAt(manifest)).baseModel;
}

/**
 * The adapter vLLM serves `model` from, over the base model it runs: `{adapter: null}` for the base model
 * itself (no checkpoint manifest), the checkpoint's `servedAdapter`, or null when its lineage has none (a
 * full fine-tune, or a LoRA checkpoint registered before servedAdapter existed). A LoRA job on `model`
 * adds its own adapter to that one.
 */
export async function servedAdapterOf(model: string): Promise<{ adapter: string | null } | null> {
  const manifest = checkpointManifestPath(model);
  if (!(await exists(manifest))) return { adapter: null };
  const { servedAdapter } = await readManifestAt(manifest);
  return servedAdapter ? { adapter: servedAdapter } : null;
}

export async function registerCheckpoint(
  jobDir: string,
  saved: { path: string; adapterPath: string | null; servedAdapter: string | null },
  found: { versions: Record<string, string>; metrics: Record<string, number> },
): Promise<CheckpointManifest> {
  // Registered once: a retried, reset or reused wait reads the first registration back unchanged.
  const registered = checkpointManifestPath(saved.path);
  if (await exists(registered)) return readManifestAt(registered);
  const text = await readFile(recipePath(jobDir), 'utf8');
  const recipe = RecipeSchema.parse(JSON.parse(text));
  const manifest: CheckpointManifest = {
    path: saved.path,
    jobKey: recipe.jobKey,
    stage: recipe.stage,
    baseModel: await baseModelOf(recipe.policyModel),
    parent: recipe.policyModel,
    referenceModel: recipe.referenceModel,
    adapter: saved.adapterPath !== null,
    adapterPath: saved.adapterPath,
    servedAdapter: saved.servedAdapter,
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
