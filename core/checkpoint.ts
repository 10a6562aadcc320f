import { z } from 'zod';
import { TrainerSchema } from './config.js';

/**
 * The checkpoint registry's records: recipe.json is written at submit time, checkpoint.json when training
 * has succeeded, both in the job directory next to the checkpoint (output/).
 */
export const TrainingStageSchema = z
  .enum(['sft', 'dpo'])
  .describe('sft: self-refinement-aware SFT (trl sft); dpo: preference training (trl dpo)');

const TrainingDataSchema = z.strictObject({
  uri: z.string().describe('the pair step output the rows come from (pairs.jsonl or sft.jsonl)'),
  sha256: z.string(),
  rows: z.int().min(0),
  trainFile: z.string().describe('the columns the trainer reads'),
  trainSha256: z.string(),
});

export const RecipeSchema = z.strictObject({
  jobKey: z.string(),
  stage: TrainingStageSchema.default('dpo').describe('absent in recipes written before the SFT stage'),
  policyModel: z.string(),
  referenceModel: z.string(),
  trainer: TrainerSchema,
  data: TrainingDataSchema,
  command: z.array(z.string()).describe('what runs: the resumable TRL command'),
  openrlhf: z
    .array(z.string())
    .nullable()
    .describe('the same DPO with OpenRLHF (multi-node alternative, not run by evolve); null for sft'),
});

export const CheckpointManifestSchema = z.strictObject({
  path: z.string().describe('a full model directory, what the next step serves and trains'),
  jobKey: z.string(),
  stage: TrainingStageSchema.default('dpo'),
  baseModel: z.string().describe('the model the lineage starts from'),
  parent: z.string().describe('the policy this training started from'),
  referenceModel: z.string(),
  adapter: z.boolean().describe('trained as a LoRA adapter; path then holds it merged into its parent'),
  adapterPath: z
    .string()
    .nullable()
    .default(null)
    .describe('the LoRA adapter directory (adapter_config.json), whose base model is parent'),
  servedAdapter: z
    .string()
    .nullable()
    .default(null)
    .describe(
      'LoRA only: the adapter vLLM serves over baseModel, this checkpoint as base + one LoRA (the ranks of the lineage added up)',
    ),
  data: TrainingDataSchema,
  recipe: z.strictObject({ uri: z.string(), sha256: z.string() }),
  trainer: z.strictObject({ backend: z.enum(['local', 'ray', 'kubernetes']), command: z.array(z.string()) }),
  versions: z.record(z.string(), z.string()),
  metrics: z.record(z.string(), z.number()),
  createdAt: z.string(),
});

export type TrainingStage = z.infer<typeof TrainingStageSchema>;
export type Recipe = z.infer<typeof RecipeSchema>;
export type CheckpointManifest = z.infer<typeof CheckpointManifestSchema>;
