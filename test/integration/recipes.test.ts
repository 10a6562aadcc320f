import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createTrainingActivities } from '../../activities/training/index.js';
import { CheckpointManifestSchema, RecipeSchema } from '../../core/checkpoint.js';
import { baseModel, pythonBin, requireInstalled } from '../support/paths.js';
import { runIn, submitInput, trainer, writePairs } from '../support/training.js';

// Real `trl sft` and `trl dpo` (with peft) on the CPU with the tiny model: the SFT stage, then LoRA DPO
// from its result against the initial model as the reference, merged into full weights.
const local = (extra: Record<string, unknown> = {}) =>
  trainer({ backend: 'local', python: requireInstalled(pythonBin), ...extra });

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));

test('SFT stage, then LoRA DPO from it against the initial model: checkpoints, merge and lineage', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'evolve-recipes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true })); // checkpoints are GBs
  const pairs = await writePairs(dir, 2);
  const activities = createTrainingActivities({ pollMs: 500 });
  const env = new MockActivityEnvironment();

  const sftConfig = local({ sft: { when: 'first', learningRate: 1e-5, epochs: 1 } });
  const sftJob = await runIn(
    env,
    activities.submitTraining,
    submitInput(dir, pairs, sftConfig, 'sft', { stage: 'sft' }),
  );
  const sft = await runIn(env, activities.awaitTraining, sftJob);
  assert.equal(sft.path, sftJob.outputDir);
  assert.ok(existsSync(join(sft.path, 'config.json')));
  assert.ok(Number.isFinite(sft.metrics.train_loss), JSON.stringify(sft.metrics));
  const sftManifest = CheckpointManifestSchema.parse(readJson(sft.manifest!));
  assert.equal(sftManifest.stage, 'sft');
  assert.equal(sftManifest.adapter, false);
  assert.equal(sftManifest.data.uri, join(dir, 'sft.jsonl'));
  assert.equal(sftManifest.data.rows, 2);
  const sftRecipe = RecipeSchema.parse(readJson(sftManifest.recipe.uri));
  assert.ok(sftRecipe.command.includes('trl.scripts.sft'));
  assert.equal(sftRecipe.openrlhf, null);
  const sftRow = readFileSync(sftRecipe.data.trainFile, 'utf8').split('\n')[0]!;
  assert.deepEqual(Object.keys(JSON.parse(sftRow) as object), ['prompt', 'completion']);

  const loraConfig = local({ reference: 'initial', lora: { r: 4, alpha: 8 } });
  const dpoJob = await runIn(
    env,
    activities.submitTraining,
    submitInput(dir, pairs, loraConfig, 'lora-dpo', { policyModel: sft.path, referenceModel: baseModel }),
  );
  const dpo = await runIn(env, activities.awaitTraining, dpoJob);
  assert.equal(dpo.path, join(dpoJob.jobDir, 'merged'), 'the checkpoint is the merged full model');
  assert.ok(existsSync(join(dpo.path, 'config.json')));
  assert.ok(existsSync(join(dpo.path, 'tokenizer_config.json')));
  assert.ok(existsSync(join(dpoJob.outputDir, 'adapter_config.json')));
  const adapterConfig = readJson(join(dpoJob.outputDir, 'adapter_config.json')) as {
    base_model_name_or_path: string;
  };
  assert.equal(adapterConfig.base_model_name_or_path, sft.path);
  const manifest = CheckpointManifestSchema.parse(readJson(dpo.manifest!));
  assert.equal(manifest.stage, 'dpo');
  assert.equal(manifest.adapter, true);
  assert.equal(manifest.adapterPath, dpoJob.outputDir);
  assert.equal(manifest.servedAdapter, null, 'over a full fine-tune no adapter on the base model is exact');
  assert.ok(!existsSync(join(dpoJob.jobDir, 'vllm-adapter')));
  assert.equal(manifest.parent, sft.path);
  assert.equal(manifest.baseModel, baseModel, 'the lineage goes through the SFT checkpoint to the base');
  assert.equal(manifest.referenceModel, baseModel);
  assert.equal(manifest.versions.peft, '0.21.2');
  assert.ok(Number.isFinite(manifest.metrics.train_loss));
  const recipe = RecipeSchema.parse(readJson(manifest.recipe.uri));
  const ref = recipe.command.indexOf('--ref_model_name_or_path');
  assert.equal(recipe.command[ref + 1], baseModel);
  const log = readFileSync(join(dpoJob.jobDir, 'train.log'), 'utf8');
  assert.match(log, /evolve: merging the adapter/);
});
