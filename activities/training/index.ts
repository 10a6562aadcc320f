import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Trainer } from '../../core/config.js';
import type { Checkpoint, SubmitTrainingInput, TrainingJob } from '../../core/steps.js';
import { z } from 'zod';
import { exists, readManifestRows, writeAtomic } from '../artifacts.js';
import { lookup, record, stepKey, without } from '../reuse.js';
import type { TrainingBackend } from './backend.js';
import { kubernetesBackend } from './kubernetes.js';
import { localBackend, localLogFile } from './local.js';
import { parseLibraryVersions, parseTrainerMetrics } from './metrics.js';
import { rayBackend } from './ray.js';
import { dpoArgs, openRLHFCommand, resumable } from './recipe.js';
import { checkpointManifestPath, pairsData, registerCheckpoint, writeRecipe } from './registry.js';

export function backendFor(trainer: Trainer): TrainingBackend {
  switch (trainer.backend) {
    case 'local':
      return localBackend(trainer.maxRestarts);
    case 'ray':
      return rayBackend(trainer);
    case 'kubernetes':
      return kubernetesBackend(trainer);
  }
}

/** Jobs submitted before the trainer travelled with the job are local ones. */
const backendOf = (job: TrainingJob) => (job.trainer ? backendFor(job.trainer) : localBackend(2));

/** The worker resolves a local interpreter path; a remote one is the cluster's. */
const pythonOf = (trainer: Trainer) =>
  trainer.backend === 'local' ? resolve(trainer.python) : trainer.python;

function trainerEnv(trainer: Trainer): Record<string, string> {
  const offline = { HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', HF_DATASETS_OFFLINE: '1' };
  return { PYTHONUNBUFFERED: '1', ...(trainer.backend === 'local' ? offline : {}) };
}

/** A trained model (config.json) or a LoRA adapter (adapter_config.json). */
async function savedModel(outputDir: string): Promise<{ adapter: boolean } | null> {
  const files = await readdir(outputDir).catch(() => [] as string[]);
  if (files.includes('config.json')) return { adapter: false };
  if (files.includes('adapter_config.json')) return { adapter: true };
  return null;
}

/** What a reuse index records for a training step: the job whose output is the checkpoint. */
const IndexedJobSchema = z.looseObject({
  jobKey: z.string(),
  jobDir: z.string(),
  outputDir: z.string(),
  backend: z.enum(['local', 'ray', 'kubernetes']),
});

/** A job is reusable only once its trainer succeeded and left a model behind. */
async function succeeded(job: TrainingJob): Promise<boolean> {
  const status = await backendOf(job)
    .find(job)
    .catch(() => null);
  return status?.state === 'succeeded' && (await savedModel(job.outputDir)) !== null;
}

export function createTrainingActivities({ pollMs = 2000 }: { pollMs?: number } = {}) {
  return {
    /**
     * Short and idempotent: a finished job with the same pairs, policy and recipe is reused (from this
     * run's index or reuseFrom's); else the job key is looked up, and the job is submitted only if the
     * backend has no such job.
     */
    async submitTraining(input: SubmitTrainingInput): Promise<TrainingJob> {
      const key = stepKey('train', [input.pairs.sha256], {
        policyModel: input.policyModel,
        referenceModel: input.referenceModel,
        recipe: without(input.trainer, 'python'),
      });
      const finished = await lookup(input.scope.indexes, key, IndexedJobSchema, succeeded);
      if (finished) {
        await record(input.scope.indexes, key, finished);
        return { ...(finished as TrainingJob), reused: true };
      }
      const jobDir = resolve(input.scope.dir, input.jobKey);
      const outputDir = join(jobDir, 'output');
      const { trainer } = input;
      const job: TrainingJob = { jobKey: input.jobKey, jobDir, outputDir, backend: trainer.backend, trainer };
      const backend = backendFor(trainer);
      // Indexed at submission: a lookup only accepts the job once it has succeeded.
      await record(input.scope.indexes, key, job);
      if (await backend.find(job)) return job;
      if (input.pairs.rows === 0) {
        throw ApplicationFailure.nonRetryable(
          `no preference pairs in ${input.pairs.uri}: every prompt was dropped (see its manifest stats); lower pairing.margin or add prompts`,
          'NoTrainingData',
        );
      }
      // TRL reads a local directory holding train.jsonl as a dataset; only its three columns are passed.
      const pairs = await readManifestRows(input.pairs, 'pair');
      const data =
        pairs
          .map((p) => JSON.stringify({ prompt: p.prompt, chosen: p.chosen, rejected: p.rejected }))
          .join('\n') + '\n';
      const dataDir = join(jobDir, 'data');
      const trainFile = join(dataDir, 'train.jsonl');
      await writeAtomic(trainFile, data);
      // The trainer runs in the job directory: a local model path must not depend on the worker's cwd.
      const model = (await exists(input.policyModel)) ? resolve(input.policyModel) : input.policyModel;
      const command = resumable(pythonOf(trainer), dpoArgs(trainer, model, dataDir, outputDir), outputDir);
      await writeRecipe(jobDir, {
        jobKey: input.jobKey,
        policyModel: model,
        referenceModel: input.referenceModel,
        trainer,
        data: pairsData(input.pairs, trainFile, data),
        command,
        openrlhf: openRLHFCommand(trainer, model, trainFile, outputDir),
      });
      await backend.submit({ jobKey: input.jobKey, jobDir, command, env: trainerEnv(trainer) });
      return job;
    },

    /** Long: follows the job, heartbeats its status, stops it on cancellation, registers the checkpoint. */
    async awaitTraining(job: TrainingJob): Promise<Checkpoint> {
      const ctx = Context.current();
      const started = Date.now();
      const backend = backendOf(job);
      for (;;) {
        const status = await backend.find(job);
        if (!status) {
          throw ApplicationFailure.nonRetryable(
            `training job ${job.jobKey} was never submitted`,
            'UnknownJob',
          );
        }
        if (status.state === 'failed' || status.state === 'stopped') {
          throw ApplicationFailure.nonRetryable(
            `training job ${job.jobKey} ${status.state} on ${job.backend}: ${status.detail ?? 'no detail'}`,
            'TrainerFailed',
          );
        }
        if (status.state === 'succeeded') {
          const saved = await savedModel(job.outputDir);
          if (!saved) {
            throw ApplicationFailure.nonRetryable(
              `trainer finished but ${job.outputDir} holds no model`,
              'TrainerFailed',
            );
          }
          const logs = await backend.logs(job);
          if (!(await exists(localLogFile(job.jobDir)))) await writeAtomic(localLogFile(job.jobDir), logs);
          const metrics = parseTrainerMetrics(logs);
          const manifest = await registerCheckpoint(job.jobDir, job.outputDir, {
            ...saved,
            versions: parseLibraryVersions(logs),
            metrics,
          });
          return {
            path: job.outputDir,
            manifest: checkpointManifestPath(job.outputDir),
            parent: manifest.parent,
            metrics,
            wallMs: Date.now() - started,
            jobKey: job.jobKey,
            reused: job.reused,
          };
        }
        ctx.heartbeat({
          jobKey: job.jobKey,
          backend: job.backend,
          lastStatus: status.state,
          detail: status.detail,
        });
        try {
          await ctx.sleep(pollMs);
        } catch (err) {
          if (err instanceof CancelledFailure) await backend.cancel(job);
          throw err;
        }
      }
    },
  };
}
