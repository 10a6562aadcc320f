import type { MockActivityEnvironment } from '@temporalio/testing';
import { join } from 'node:path';
import { writeJsonlWithManifest } from '../../storage/jsonl-writer.js';
import { TrainerSchema, type Trainer } from '../../core/config.js';
import type { Manifest, PairRecord, SftRecord } from '../../core/records.js';
import type { SubmitTrainingInput, TrainingJob } from '../../core/steps.js';
import { writeRecipe } from '../../activities/training/registry.js';
import { baseModel } from './paths.js';

/** Small CPU recipes: the tiny model, short sequences, one pair per step. */
export const cpuRecipe = { device: 'cpu', maxLength: 64, batchSize: 1, learningRate: 5e-6 } as const;

export const trainer = (input: Record<string, unknown>): Trainer =>
  TrainerSchema.parse({ ...cpuRecipe, ...input });

/**
 * `count` arithmetic preference pairs, written with their manifest as the pair step writes them, with
 * the SFT rows (x -> y_w) in sft.jsonl beside them.
 */
export async function writePairs(dir: string, count: number): Promise<Manifest> {
  const rows: PairRecord[] = Array.from({ length: count }, (_, i) => ({
    promptId: `p${i}`,
    kind: 'direct',
    prompt: [{ role: 'user', content: `What is ${i} plus ${i + 1}?` }],
    chosen: [{ role: 'assistant', content: `${2 * i + 1}` }],
    rejected: [{ role: 'assistant', content: `${2 * i + 7}` }],
    chosenId: `c${i}`,
    rejectedId: `r${i}`,
    margin: 1,
    weight: 1,
  }));
  const producedBy = { step: 'pair', runId: 't', iteration: 1 };
  const sft: SftRecord[] = rows.map((r) => ({
    promptId: r.promptId,
    kind: 'direct',
    prompt: r.prompt,
    completion: r.chosen,
    sourceId: r.chosenId,
  }));
  await writeJsonlWithManifest(join(dir, 'sft.jsonl'), 'sft', sft, producedBy);
  return writeJsonlWithManifest(join(dir, 'pairs.jsonl'), 'pair', rows, producedBy);
}

export function submitInput(
  dir: string,
  pairs: Manifest,
  config: Trainer,
  jobKey: string,
  models: Partial<Pick<SubmitTrainingInput, 'stage' | 'policyModel' | 'referenceModel'>> = {},
): SubmitTrainingInput {
  return {
    scope: { runId: 't', iteration: 1, dir, indexes: [join(dir, 'cas')] },
    pairs,
    policyModel: baseModel,
    referenceModel: baseModel,
    trainer: config,
    jobKey,
    ...models,
  };
}

/** Runs an activity in the mock activity context, keeping its argument and result types. */
export const runIn = <A extends unknown[], R>(
  env: MockActivityEnvironment,
  fn: (...args: A) => Promise<R>,
  ...args: A
): Promise<R> => env.run<A, R, (...args: A) => Promise<R>>(fn, ...args);

/**
 * A TrainingJob in `dir` on a remote backend, with the recipe file awaitTraining reads (as submitTraining
 * writes it): what a backend's pod or job then runs is the test's own command.
 */
export async function remoteJob(dir: string, jobKey: string, config: Trainer): Promise<TrainingJob> {
  await writeRecipe(dir, {
    jobKey,
    stage: 'dpo',
    policyModel: '/base',
    referenceModel: '/base',
    trainer: config,
    data: { uri: '/pairs.jsonl', sha256: 'a', rows: 1, trainFile: '/train.jsonl', trainSha256: 'b' },
    command: ['trl'],
    openrlhf: null,
  });
  return { jobKey, jobDir: dir, outputDir: join(dir, 'output'), backend: config.backend, trainer: config };
}
