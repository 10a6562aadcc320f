/** Where a training job runs. Every backend is keyed by the job key: a second submit finds the first job. */
export type JobState = 'pending' | 'running' | 'succeeded' | 'failed' | 'stopped';

export interface JobStatus {
  state: JobState;
  /** Why it failed or stopped, as the backend tells it. */
  detail?: string;
}

export interface JobRef {
  jobKey: string;
  /** The job's directory on the artifact filesystem, which the trainer shares. */
  jobDir: string;
}

export interface JobSpec extends JobRef {
  /** argv of the trainer. */
  command: string[];
  env: Record<string, string>;
}

export interface TrainingBackend {
  /** Starts the job unless one with this key exists (then leaves it as it is). */
  submit(spec: JobSpec): Promise<void>;
  /** The job with this key, or null when there is none. */
  find(job: JobRef): Promise<JobStatus | null>;
  logs(job: JobRef): Promise<string>;
  /** Stops the job; returns once it no longer runs. */
  cancel(job: JobRef): Promise<void>;
  /**
   * Where the backend can push changes: returns once the job's state differs from `seen` (or it is
   * gone), after `timeoutMs` at the latest, or at once when `signal` aborts. A follower then wakes on
   * the change instead of polling.
   */
  watch?(job: JobRef, seen: JobStatus, opts: { timeoutMs: number; signal: AbortSignal }): Promise<void>;
  /**
   * For `evolve doctor`, a remote backend: proves the cluster answers and accepts this worker's
   * credentials, and says what it is; throws with the reason otherwise.
   */
  probe?(): Promise<string>;
}

export const isFinished = (s: JobStatus) =>
  s.state === 'succeeded' || s.state === 'failed' || s.state === 'stopped';

/** Polls `find` until the job is gone or finished, for backends whose stop request returns at once. */
export async function untilStopped(
  backend: Pick<TrainingBackend, 'find'>,
  job: JobRef,
  timeoutMs: number,
  pollMs = 500,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await backend.find(job);
    if (!status || isFinished(status)) return;
    if (Date.now() > deadline)
      throw new Error(`training job ${job.jobKey} still ${status.state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
