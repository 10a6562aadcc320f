import { spawn } from 'node:child_process';
import { open, readFile, rm as remove } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { exists, writeAtomic } from '../storage/files.js';
import type { JobSpec, JobStatus, TrainingBackend } from './backend.js';
import { childEnv } from '../core/secrets.js';

/**
 * The local backend: the trainer as a child process of the worker's machine. The job directory, named
 * from the job key, is the lock: a second submit finds it, a restarted worker re-attaches to the pid it
 * records, and the wrapper shell leaves the trainer's exit code behind even if the worker died.
 */

interface JobFile {
  jobKey: string;
  pid: number;
  command: string[];
  env: Record<string, string>;
  startedAt: string;
  attempt: number;
}

const jobFile = (jobDir: string) => join(jobDir, 'job.json');
const exitFile = (jobDir: string) => join(jobDir, 'exit_code');
const cancelledFile = (jobDir: string) => join(jobDir, 'cancelled');
export const localLogFile = (jobDir: string) => join(jobDir, 'train.log');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

async function readJob(jobDir: string): Promise<JobFile | null> {
  if (!(await exists(jobFile(jobDir)))) return null;
  return JSON.parse(await readFile(jobFile(jobDir), 'utf8')) as JobFile;
}

/** Starts the trainer detached (its own process group), so it outlives a crashed worker. */
async function launch(spec: JobSpec, attempt: number): Promise<void> {
  const log = await open(localLogFile(spec.jobDir), 'a');
  const child = spawn(
    'sh',
    ['-c', '"$@"; echo $? > exit_code.tmp && mv exit_code.tmp exit_code', 'evolve-local', ...spec.command],
    {
      cwd: spec.jobDir,
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
      // The trainer runs what the config names: it gets no worker credential (codec key, Temporal).
      env: childEnv(process.env, spec.env),
    },
  );
  child.unref();
  await log.close();
  const job: JobFile = {
    jobKey: spec.jobKey,
    pid: child.pid!,
    command: spec.command,
    env: spec.env,
    startedAt: new Date().toISOString(),
    attempt,
  };
  await writeAtomic(jobFile(spec.jobDir), JSON.stringify(job, null, 2));
}

async function logTail(jobDir: string, lines = 15): Promise<string> {
  const text = await readFile(localLogFile(jobDir), 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export function localBackend(maxRestarts: number): TrainingBackend {
  /** A trainer killed by a signal (OOM killer, kill -9) or lost with its wrapper is relaunched; it resumes. */
  async function restart(job: JobFile, jobDir: string, why: string): Promise<JobStatus> {
    if (job.attempt > maxRestarts) {
      return {
        state: 'failed',
        detail: `${why} after ${job.attempt} attempts; last lines:\n${await logTail(jobDir)}`,
      };
    }
    killGroup(job.pid, 'SIGKILL'); // what is left of the old attempt must not train beside the new one
    await remove(exitFile(jobDir), { force: true });
    await launch({ jobKey: job.jobKey, jobDir, command: job.command, env: job.env }, job.attempt + 1);
    return { state: 'running', detail: `${why}: restarted (attempt ${job.attempt + 1})` };
  }

  return {
    async submit(spec) {
      if (await readJob(spec.jobDir)) return;
      await launch(spec, 1);
    },

    async find({ jobDir }) {
      const job = await readJob(jobDir);
      if (!job) return null;
      if (await exists(cancelledFile(jobDir))) return { state: 'stopped', detail: 'cancelled' };
      if (await exists(exitFile(jobDir))) {
        const code = Number((await readFile(exitFile(jobDir), 'utf8')).trim());
        if (code === 0) return { state: 'succeeded' };
        if (code > 128) return restart(job, jobDir, `trainer killed by signal ${code - 128}`);
        return {
          state: 'failed',
          detail: `trainer exited with code ${code}; last lines:\n${await logTail(jobDir)}`,
        };
      }
      if (!alive(job.pid)) return restart(job, jobDir, 'trainer lost without an exit code');
      return { state: 'running' };
    },

    logs: ({ jobDir }) => readFile(localLogFile(jobDir), 'utf8').catch(() => ''),

    async cancel({ jobDir }) {
      const job = await readJob(jobDir);
      if (!job) return;
      await writeAtomic(cancelledFile(jobDir), new Date().toISOString());
      killGroup(job.pid, 'SIGTERM');
      for (let i = 0; i < 20 && alive(job.pid); i++) await sleep(500);
      killGroup(job.pid, 'SIGKILL');
    },
  };
}
