import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { spawn } from 'node:child_process';
import { open, readFile, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Trainer } from '../core/config.js';
import type { Checkpoint, SubmitTrainingInput, TrainingJob } from '../core/steps.js';
import { z } from 'zod';
import { exists, readManifestRows, writeAtomic } from './artifacts.js';
import { lookup, record, stepKey, without } from './reuse.js';

/**
 * The local training backend: `trl dpo` as a child process of the worker's machine. The job directory,
 * named from the job key, is the lock: a second submit finds it, a restarted worker re-attaches to the
 * pid it records, and the wrapper shell leaves the trainer's exit code behind even if the worker died.
 */

interface JobFile {
  jobKey: string;
  pid: number;
  command: string[];
  startedAt: string;
  attempt: number;
}

export function dpoArgs(trainer: Trainer, model: string, dataDir: string, outputDir: string): string[] {
  return [
    'dpo',
    '--model_name_or_path',
    model,
    '--dataset_name',
    dataDir,
    '--output_dir',
    outputDir,
    '--beta',
    String(trainer.beta),
    '--learning_rate',
    String(trainer.learningRate),
    '--num_train_epochs',
    String(trainer.epochs),
    '--per_device_train_batch_size',
    String(trainer.batchSize),
    '--gradient_accumulation_steps',
    String(trainer.gradientAccumulation),
    '--max_length',
    String(trainer.maxLength),
    '--logging_steps',
    '1',
    '--save_strategy',
    'epoch',
    '--save_only_model',
    'false',
    '--report_to',
    'none',
    '--disable_tqdm',
    'true',
    // On CPU bf16 runs through a slow fallback matmul (5-10x slower on AVX2): train in fp32 there.
    ...(trainer.device === 'cpu'
      ? ['--use_cpu', 'true', '--bf16', 'false', '--dtype', 'float32']
      : ['--bf16', 'true']),
    ...trainer.extraArgs,
  ];
}

/** What a reuse index records for a training step: the job whose output is the checkpoint. */
const IndexedJobSchema = z.strictObject({
  jobKey: z.string(),
  jobDir: z.string(),
  outputDir: z.string(),
  backend: z.literal('local'),
});

const jobFile = (jobDir: string) => join(jobDir, 'job.json');
const exitFile = (jobDir: string) => join(jobDir, 'exit_code');
const logFile = (jobDir: string) => join(jobDir, 'train.log');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function readJob(jobDir: string): Promise<JobFile | null> {
  if (!(await exists(jobFile(jobDir)))) return null;
  return JSON.parse(await readFile(jobFile(jobDir), 'utf8')) as JobFile;
}

/** Starts the trainer detached (its own process group), so it outlives a crashed worker. */
async function launch(jobDir: string, jobKey: string, command: string[], attempt: number): Promise<JobFile> {
  const quoted = command.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const log = await open(logFile(jobDir), 'a');
  const child = spawn('bash', ['-c', `${quoted}; echo $? > exit_code.tmp && mv exit_code.tmp exit_code`], {
    cwd: jobDir,
    detached: true,
    stdio: ['ignore', log.fd, log.fd],
    env: {
      ...process.env,
      HF_HUB_OFFLINE: '1',
      TRANSFORMERS_OFFLINE: '1',
      HF_DATASETS_OFFLINE: '1',
      PYTHONUNBUFFERED: '1',
    },
  });
  child.unref();
  await log.close();
  const job: JobFile = { jobKey, pid: child.pid!, command, startedAt: new Date().toISOString(), attempt };
  await writeAtomic(jobFile(jobDir), JSON.stringify(job, null, 2));
  return job;
}

/** The last checkpoint-N directory the trainer saved, for resume_from_checkpoint after a trainer crash. */
async function lastCheckpoint(outputDir: string): Promise<string | null> {
  if (!(await exists(outputDir))) return null;
  const steps = (await readdir(outputDir))
    .map((d) => /^checkpoint-(\d+)$/.exec(d))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]));
  return steps[0] ? join(outputDir, steps[0][0]) : null;
}

/** Every metrics dict the trainer logged, in order: lines such as {'loss': '0.69', ..., 'epoch': '1.0'}. */
export function parseTrainerLog(log: string): Record<string, number>[] {
  const entries: Record<string, number>[] = [];
  // Metric dicts are interleaved with tqdm's carriage returns; their values are quoted strings.
  for (const line of log.split(/[\r\n]+/)) {
    const dict = /^\{'.*\}$/.exec(line.trim())?.[0];
    if (!dict) continue;
    const entry: Record<string, number> = {};
    for (const [, key, value] of dict.matchAll(/'([\w/]+)': '?(-?[\d.]+(?:e-?\d+)?)'?/g)) {
      const n = Number(value);
      if (Number.isFinite(n)) entry[key!] = n;
    }
    entries.push(entry);
  }
  return entries;
}

/** Training metrics from the trainer's log: the last value of each, the first loss and the line count. */
export function parseTrainerMetrics(log: string): Record<string, number> {
  const entries = parseTrainerLog(log);
  const metrics: Record<string, number> = Object.assign({}, ...entries);
  const firstLoss = entries.find((e) => e.loss !== undefined)?.loss;
  if (firstLoss !== undefined) metrics.firstLoss = firstLoss;
  metrics.logLines = entries.length;
  return metrics;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

/** A job is reusable only once its trainer exited 0 and left a model behind. */
async function succeeded(job: TrainingJob): Promise<boolean> {
  const code = await readFile(exitFile(job.jobDir), 'utf8').catch(() => '');
  return code.trim() === '0' && (await exists(join(job.outputDir, 'config.json')));
}

async function logTail(jobDir: string, lines = 15): Promise<string> {
  const text = await readFile(logFile(jobDir), 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export function createTrainingActivities() {
  return {
    /**
     * Short and idempotent: a finished job with the same pairs, policy and recipe is reused (from this
     * run's index or reuseFrom's); else the job key is looked up, and the trainer starts only if no job
     * exists.
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
        return { ...finished, reused: true };
      }
      const jobDir = resolve(input.scope.dir, input.jobKey);
      const outputDir = join(jobDir, 'output');
      const job: TrainingJob = { jobKey: input.jobKey, jobDir, outputDir, backend: input.trainer.backend };
      // Indexed at submission: a lookup only accepts the job once it has succeeded.
      await record(input.scope.indexes, key, job);
      if (await readJob(jobDir)) return job;
      if (input.pairs.rows === 0) {
        throw ApplicationFailure.nonRetryable(
          `no preference pairs in ${input.pairs.uri}: every prompt was dropped (see its manifest stats); lower pairing.margin or add prompts`,
          'NoTrainingData',
        );
      }
      // TRL reads a local directory holding train.jsonl as a dataset; only its three columns are passed.
      const pairs = await readManifestRows(input.pairs, 'pair');
      const data = pairs
        .map((p) => JSON.stringify({ prompt: p.prompt, chosen: p.chosen, rejected: p.rejected }))
        .join('\n');
      await writeAtomic(join(jobDir, 'data', 'train.jsonl'), data + '\n');
      const trl = join(dirname(resolve(input.trainer.python)), 'trl');
      // The trainer runs in the job directory: a local model path must not depend on the worker's cwd.
      const model = (await exists(input.policyModel)) ? resolve(input.policyModel) : input.policyModel;
      const command = [trl, ...dpoArgs(input.trainer, model, join(jobDir, 'data'), outputDir)];
      await writeAtomic(
        join(jobDir, 'recipe.json'),
        JSON.stringify({ command, trainer: input.trainer, referenceModel: input.referenceModel }, null, 2),
      );
      await launch(jobDir, input.jobKey, command, 1);
      return job;
    },

    /** Long: re-attaches to the job, heartbeats its status, kills it on cancellation, returns the checkpoint. */
    async awaitTraining(job: TrainingJob): Promise<Checkpoint> {
      const ctx = Context.current();
      const started = Date.now();
      for (;;) {
        const current = await readJob(job.jobDir);
        if (!current)
          throw ApplicationFailure.nonRetryable(
            `training job ${job.jobKey} was never submitted`,
            'UnknownJob',
          );
        if (await exists(exitFile(job.jobDir))) {
          const code = Number((await readFile(exitFile(job.jobDir), 'utf8')).trim());
          if (code !== 0) {
            throw ApplicationFailure.nonRetryable(
              `trainer exited with code ${code}; last lines of ${logFile(job.jobDir)}:\n${await logTail(job.jobDir)}`,
              'TrainerFailed',
            );
          }
          if (!(await exists(join(job.outputDir, 'config.json')))) {
            throw ApplicationFailure.nonRetryable(
              `trainer finished but ${job.outputDir} holds no model`,
              'TrainerFailed',
            );
          }
          const metrics = parseTrainerMetrics(await readFile(logFile(job.jobDir), 'utf8'));
          const recipe = JSON.parse(await readFile(join(job.jobDir, 'recipe.json'), 'utf8')) as {
            command: string[];
          };
          const parent = recipe.command[recipe.command.indexOf('--model_name_or_path') + 1] ?? '';
          const wallMs = Date.now() - started;
          return { path: job.outputDir, parent, metrics, wallMs, jobKey: job.jobKey, reused: job.reused };
        }
        if (!alive(current.pid)) {
          // The trainer died without an exit code (machine or wrapper killed): restart, resuming if it saved.
          const resume = await lastCheckpoint(job.outputDir);
          const command = resume ? [...current.command, '--resume_from_checkpoint', resume] : current.command;
          await launch(job.jobDir, job.jobKey, command, current.attempt + 1);
          continue;
        }
        ctx.heartbeat({ jobKey: job.jobKey, backend: job.backend, lastStatus: 'running', pid: current.pid });
        try {
          await ctx.sleep(2000);
        } catch (err) {
          if (err instanceof CancelledFailure) {
            killGroup(current.pid, 'SIGTERM');
            for (let i = 0; i < 20 && alive(current.pid); i++) await sleep(500);
            killGroup(current.pid, 'SIGKILL');
          }
          throw err;
        }
      }
    },
  };
}
