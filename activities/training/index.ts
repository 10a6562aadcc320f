import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { TrainingStage } from '../../core/checkpoint.js';
import type { Trainer } from '../../core/config.js';
import type { Manifest } from '../../core/records.js';
import type { Checkpoint, SubmitTrainingInput, TrainingJob } from '../../core/steps.js';
import { z } from 'zod';
import { srpoRows } from '../../core/pairing.js';
import { exists, writeAtomic } from '../../storage/files.js';
import { checkpointManifestPath, readManifest, readManifestRows } from '../../storage/manifests.js';
import { lookup, record, stepKey, without } from '../../storage/reuse.js';
import type { JobStatus, TrainingBackend } from '../../trainers/backend.js';
import { heartbeat, withHeartbeat } from '../heartbeat.js';
import { OutageWatch, waitingOut } from '../outage.js';
import { backendFor } from '../../trainers/index.js';
import { localBackend, localLogFile } from '../../trainers/local.js';
import { parseLibraryVersions, parseTrainerMetrics } from '../../core/trainer-log.js';
import {
  DPO_ENTRY_POINT,
  dpoArgs,
  entryPoint,
  LAUNCH_ENTRY_POINT,
  launched,
  openRLHFCommand,
  resumable,
  sftArgs,
} from './recipe.js';
import { registerCheckpoint, servedAdapterOf, trainingData, writeRecipe } from './registry.js';

/** Jobs submitted before the trainer travelled with the job are local ones. */
const backendOf = (job: TrainingJob) => (job.trainer ? backendFor(job.trainer) : localBackend(2));

/** The worker resolves a local interpreter path; a remote one is the cluster's. */
const pythonOf = (trainer: Trainer) =>
  trainer.backend === 'local' ? resolve(trainer.python) : trainer.python;

/** The job environment the backends add to the allow-listed one. */
export function trainerEnv(trainer: Trainer): Record<string, string> {
  const offline = { HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', HF_DATASETS_OFFLINE: '1' };
  const threads = trainer.device === 'cpu' && trainer.cpuThreads ? String(trainer.cpuThreads) : undefined;
  return {
    PYTHONUNBUFFERED: '1',
    ...(trainer.backend === 'local' ? offline : {}),
    ...(threads ? { OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads } : {}),
  };
}

/** Where a LoRA job's adapter, merged into its base model, is written: the checkpoint then. */
const mergedDirOf = (jobDir: string) => join(jobDir, 'merged');
/** Where a LoRA job writes the adapter vLLM serves over the base model (policy.serve.kind vllm-lora). */
const servedDirOf = (jobDir: string) => join(jobDir, 'vllm-adapter');

/**
 * The trained model: output/ after full fine-tuning (config.json); for a LoRA adapter (output/ holds
 * adapter_config.json) its merge, once written. Null while neither is complete.
 */
async function savedModel(
  job: TrainingJob,
): Promise<{ path: string; adapterPath: string | null; servedAdapter: string | null } | null> {
  const files = await readdir(job.outputDir).catch(() => [] as string[]);
  if (files.includes('config.json')) return { path: job.outputDir, adapterPath: null, servedAdapter: null };
  if (!files.includes('adapter_config.json')) return null;
  const merged = mergedDirOf(job.jobDir);
  if (!(await exists(join(merged, 'config.json')))) return null;
  // Written (renamed into place) before the merge, when the lineage allows one.
  const served = servedDirOf(job.jobDir);
  const servedAdapter = (await exists(join(served, 'adapter_config.json'))) ? served : null;
  return { path: merged, adapterPath: job.outputDir, servedAdapter };
}

/**
 * The rows a stage trains on, in TRL's conversational formats: preference rows (prompt, chosen,
 * rejected, with each row's weight and kind) from pairs.jsonl for dpo, or one SRPO row per triple; prompt-completion rows from sft.jsonl, which the pair step writes
 * next to it, for sft.
 */
async function trainingRows(
  stage: TrainingStage,
  pairs: Manifest,
  trainer: Trainer,
): Promise<{ source: Manifest; rows: object[] }> {
  if (stage === 'dpo') {
    const rows = await readManifestRows(pairs, 'pair');
    if (trainer.loss === 'srpo') {
      try {
        return { source: pairs, rows: srpoRows(rows) };
      } catch (err) {
        throw ApplicationFailure.nonRetryable(`${pairs.uri}: ${(err as Error).message}`, 'NoTrainingData');
      }
    }
    // The weight scales the row's loss in deploy/trainer/dpo.py; the kind names its truncation counts.
    return {
      source: pairs,
      rows: rows.map((p) => ({
        prompt: p.prompt,
        chosen: p.chosen,
        rejected: p.rejected,
        weight: p.weight,
        kind: p.kind,
      })),
    };
  }
  const sftUri = join(dirname(pairs.uri), 'sft.jsonl');
  const sft = await readManifest(sftUri);
  if (!sft) {
    throw ApplicationFailure.nonRetryable(
      `${sftUri} has no manifest: the pair step did not write it`,
      'NoTrainingData',
    );
  }
  const rows = await readManifestRows(sft, 'sft');
  return { source: sft, rows: rows.map((r) => ({ prompt: r.prompt, completion: r.completion })) };
}

/** What only the DPO stage reads (dpoArgs, the reference choice): an SFT job does not depend on it. */
const DPO_ONLY = [
  'beta',
  'loss',
  'nll',
  'srpoAlpha',
  'learningRate',
  'epochs',
  'reference',
  'extraArgs',
] as const;

/**
 * The recipe in the step key: without the interpreter, nor the keys added since at their defaults (the
 * dpo loss, no NLL term, one python process), so jobs indexed before them stay reusable. Nor stage 0's
 * dataset path: its content is in the key as the SFT rows' hash, and the same demonstrations under
 * another path (`experiment micro --reuse-from`) are the same job. An SFT job's key also leaves out what
 * only DPO reads, so a dev run that changes the DPO learning rate reuses pi_1 instead of training it again.
 */
export function recipeKey(trainer: Trainer, stage: TrainingStage = 'dpo'): object {
  if (stage === 'sft') {
    const { sft, launcher, ...rest } = trainer;
    return {
      ...without(rest, 'python', ...DPO_ONLY),
      sft: { learningRate: sft.learningRate, epochs: sft.epochs },
      ...(launcher.kind === 'python' ? {} : { launcher }),
    };
  }
  const { loss, nll, srpoAlpha, launcher, sft, ...rest } = trainer;
  return {
    ...without(rest, 'python'),
    ...(sft && { sft: without(sft, 'dataset') }),
    ...(loss === 'dpo' ? {} : { loss, srpoAlpha }),
    ...(nll === 0 ? {} : { nll }),
    ...(launcher.kind === 'python' ? {} : { launcher }),
  };
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
  return status?.state === 'succeeded' && (await savedModel(job)) !== null;
}

/**
 * `pollMs`: how often a job is looked at; a backend that can watch (Kubernetes) is instead woken by the
 * change, and looked at every `watchMs` at the latest, for the heartbeat.
 */
export function createTrainingActivities({
  pollMs = 2000,
  watchMs = 20_000,
}: { pollMs?: number; watchMs?: number } = {}) {
  return {
    /**
     * Short and idempotent: a finished job with the same pairs, policy and recipe is reused (from this
     * run's index or reuseFrom's); else the job key is looked up, and the job is submitted only if the
     * backend has no such job.
     */
    async submitTraining(input: SubmitTrainingInput): Promise<TrainingJob> {
      const stage = input.stage ?? 'dpo';
      const key = stepKey('train', [input.pairs.sha256], {
        ...(stage === 'sft' ? { stage } : {}), // dpo keys stay those of jobs indexed before the SFT stage
        policyModel: input.policyModel,
        referenceModel: input.referenceModel,
        recipe: recipeKey(input.trainer, stage),
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
      // TRL reads a local directory holding train.jsonl as a dataset; only its columns are passed.
      const { source, rows } = await trainingRows(stage, input.pairs, trainer);
      const data = rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
      const dataDir = join(jobDir, 'data');
      const trainFile = join(dataDir, 'train.jsonl');
      await writeAtomic(trainFile, data);
      // The trainer runs in the job directory: a local model path must not depend on the worker's cwd.
      const local = async (m: string) => ((await exists(m)) ? resolve(m) : m);
      const model = await local(input.policyModel);
      const reference = await local(input.referenceModel);
      const args = (stage === 'sft' ? sftArgs : dpoArgs)(trainer, model, dataDir, outputDir);
      const mergedDir = trainer.lora ? mergedDirOf(jobDir) : null;
      const served = trainer.lora ? await servedAdapterOf(model) : null;
      const script = join(jobDir, 'dpo.py'); // the job's own copy: what ran stays with the job, on every backend
      if (stage === 'dpo') await writeAtomic(script, await readFile(DPO_ENTRY_POINT, 'utf8'));
      const launcher = trainer.launcher;
      const accelerateConfig =
        launcher.kind === 'accelerate' && launcher.config ? join(jobDir, 'accelerate.yaml') : null;
      if (accelerateConfig && launcher.kind === 'accelerate' && launcher.config) {
        const text = await readFile(resolve(launcher.config), 'utf8').catch(() => null);
        if (text === null) {
          throw ApplicationFailure.nonRetryable(
            `trainer.launcher.config: no accelerate config file at ${resolve(launcher.config)}`,
            'BadConfig',
          );
        }
        await writeAtomic(accelerateConfig, text);
      }
      const launchScript = join(jobDir, 'launch.py');
      if (launcher.kind === 'accelerate') {
        await writeAtomic(launchScript, await readFile(LAUNCH_ENTRY_POINT, 'utf8'));
      }
      const entry = launched(
        trainer,
        entryPoint(stage, model, reference, script),
        { launcher: launchScript, config: accelerateConfig },
        input.jobKey,
      );
      const command = resumable(pythonOf(trainer), entry, args, {
        outputDir,
        mergedDir,
        servedDir: served ? servedDirOf(jobDir) : null,
        parentServedDir: served?.adapter ?? null,
      });
      await writeRecipe(jobDir, {
        jobKey: input.jobKey,
        stage,
        policyModel: model,
        referenceModel: reference,
        trainer,
        data: trainingData(source, trainFile, data),
        command,
        openrlhf: stage === 'dpo' ? openRLHFCommand(trainer, model, reference, trainFile, outputDir) : null,
      });
      await backend.submit({ jobKey: input.jobKey, jobDir, command, env: trainerEnv(trainer) });
      return job;
    },

    /** Long: follows the job, heartbeats its status, stops it on cancellation, registers the checkpoint. */
    async awaitTraining(job: TrainingJob): Promise<Checkpoint> {
      const ctx = Context.current();
      /** Until the job may have changed; rejects with CancelledFailure when the activity is cancelled. */
      const nextLook = async (backend: TrainingBackend, ref: TrainingJob, seen: JobStatus) => {
        if (!backend.watch) return ctx.sleep(pollMs);
        const stop = new AbortController();
        try {
          await Promise.race([
            // A broken watch falls back to one poll interval: the next round looks and watches again.
            backend
              .watch(ref, seen, { timeoutMs: watchMs, signal: stop.signal })
              .catch(() => new Promise((r) => setTimeout(r, pollMs))),
            ctx.sleep(watchMs + 1000), // the only part that sees a cancellation
          ]);
        } finally {
          stop.abort();
        }
      };
      const started = Date.now();
      const backend = backendOf(job);
      const budget =
        job.trainer && 'outageBudgetHours' in job.trainer ? job.trainer.outageBudgetHours : undefined;
      const watch = new OutageWatch(`${job.backend} training backend`, budget);
      let last: JobStatus | null = null;
      const details = () => ({
        jobKey: job.jobKey,
        backend: job.backend,
        lastStatus: last?.state ?? 'unknown',
        detail: last?.detail,
      });
      // A cluster API that is down is waited for (heartbeating, its state in the details), not retried
      // into the activity's attempt limit: the job runs on without us looking.
      const follow = async (): Promise<Checkpoint> => {
        for (;;) {
          const status = await waitingOut(watch, () => backend.find(job), ctx.cancellationSignal);
          last = status;
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
            const saved = await savedModel(job);
            if (!saved) {
              throw ApplicationFailure.nonRetryable(
                `trainer finished but ${job.outputDir} holds no model (nor a merged adapter)`,
                'TrainerFailed',
              );
            }
            const logs = await backend.logs(job);
            if (!(await exists(localLogFile(job.jobDir)))) await writeAtomic(localLogFile(job.jobDir), logs);
            const metrics = parseTrainerMetrics(logs);
            const manifest = await registerCheckpoint(job.jobDir, saved, {
              versions: parseLibraryVersions(logs),
              metrics,
            });
            return {
              path: manifest.path,
              manifest: checkpointManifestPath(manifest.path),
              parent: manifest.parent,
              ...(manifest.servedAdapter ? { servedAdapter: manifest.servedAdapter } : {}),
              metrics,
              wallMs: Date.now() - started,
              jobKey: job.jobKey,
              reused: job.reused,
            };
          }
          heartbeat(details());
          try {
            await nextLook(backend, job, status);
          } catch (err) {
            // Only a cancel the workflow asked for stops the job. A missed heartbeat (a worker stalled by memory
            // pressure), a worker shutdown or a pause leaves it running for the next attempt to re-attach to.
            if (err instanceof CancelledFailure && ctx.cancellationDetails?.cancelRequested)
              await backend.cancel(job);
            throw err;
          }
        }
      };
      try {
        return await withHeartbeat(details, follow);
      } finally {
        watch.release();
      }
    },
  };
}
