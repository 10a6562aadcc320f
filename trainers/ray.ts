import type { RayTrainer } from '../core/config.js';
import { untilStopped, type JobRef, type JobSpec, type JobState, type TrainingBackend } from './backend.js';
import { requestJson } from './http.js';

/**
 * The Ray backend: the Ray Jobs REST API of a cluster's dashboard. The job key is the submission id of
 * the first attempt, so a second submit finds the first job. A FAILED attempt with restarts left is
 * resubmitted under an id derived from the key and the attempt number (Ray ids are never reused); the
 * trainer command resumes from the last checkpoint in the output directory. The trainer reads and
 * writes the artifact filesystem, which the Ray nodes must share with the worker.
 */
const states: Record<string, JobState> = {
  PENDING: 'pending',
  RUNNING: 'running',
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  STOPPED: 'stopped',
};

/** What the Jobs API returns for a submission (the fields evolve reads and resubmits). */
interface RayJob {
  status: string;
  message?: string;
  entrypoint: string;
  runtime_env?: Record<string, unknown>;
  entrypoint_num_cpus?: number;
  entrypoint_num_gpus?: number;
  entrypoint_resources?: Record<string, number>;
  metadata?: Record<string, string>;
}

const shellQuote = (arg: string) =>
  /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;

/** Attempt 1 is the job key itself (jobs submitted before restarts existed), later ones get a suffix. */
export const submissionId = (jobKey: string, attempt: number) =>
  attempt === 1 ? jobKey : `${jobKey}-attempt${attempt}`;

export function rayBackend(trainer: RayTrainer, stopTimeoutMs = 60_000): TrainingBackend {
  const api = (path: string) => `${trainer.address.replace(/\/$/, '')}/api/jobs/${path}`;
  const what = 'Ray Jobs API';

  async function get(id: string): Promise<RayJob | null> {
    const { status, body } = await requestJson(api(encodeURIComponent(id)), { what, allow: [404] });
    return status === 404 ? null : (body as RayJob);
  }

  /** Every attempt submitted so far, oldest first (attempt n exists only if attempt n-1 failed). */
  async function attempts(jobKey: string): Promise<RayJob[]> {
    const found: RayJob[] = [];
    for (let n = 1; n <= trainer.maxRestarts + 1; n++) {
      const job = await get(submissionId(jobKey, n));
      if (!job) break;
      found.push(job);
    }
    return found;
  }

  async function post(id: string, job: Omit<RayJob, 'status' | 'message'>): Promise<void> {
    const { status, body } = await requestJson(api(''), {
      what,
      method: 'POST',
      allow: [400, 409, 500],
      body: JSON.stringify({ submission_id: id, ...job }),
    });
    // Ray answers a taken submission id with an error (500 in 2.60): if the job exists, it is the one asked for.
    if (status !== 200 && !(await get(id))) {
      throw new Error(`${what}: submitting ${id} answered ${status}: ${JSON.stringify(body)}`);
    }
  }

  const backend: TrainingBackend = {
    async probe() {
      // The Jobs SDK's own connection check: the dashboard's version endpoint.
      const { body } = await requestJson(`${trainer.address.replace(/\/$/, '')}/api/version`, { what });
      const version = (body as { ray_version?: unknown } | null)?.ray_version;
      return `ray: ${trainer.address}, Ray ${typeof version === 'string' ? version : '(version unknown)'}`;
    },

    async submit(spec: JobSpec) {
      if (await backend.find(spec)) return;
      const runtimeEnv = trainer.runtimeEnv as { env_vars?: Record<string, string> };
      await post(spec.jobKey, {
        entrypoint: spec.command.map(shellQuote).join(' '),
        runtime_env: { ...runtimeEnv, env_vars: { ...spec.env, ...runtimeEnv.env_vars } },
        entrypoint_num_cpus: trainer.numCpus,
        entrypoint_num_gpus: trainer.numGpus,
        entrypoint_resources: trainer.entrypointResources,
        metadata: { jobKey: spec.jobKey, jobDir: spec.jobDir },
      });
    },

    async find({ jobKey }: JobRef) {
      const all = await attempts(jobKey);
      const last = all.at(-1);
      if (!last) return null;
      const state = states[last.status];
      if (!state) throw new Error(`${what}: job ${jobKey} has an unknown status ${last.status}`);
      if (state !== 'failed' || all.length > trainer.maxRestarts) {
        const detail =
          state === 'failed' && all.length > 1
            ? `after ${all.length} attempts: ${last.message ?? 'no detail'}`
            : last.message;
        return { state, ...(detail ? { detail } : {}) };
      }
      // The same entrypoint and resources as Ray recorded them: the command resumes from its checkpoint.
      const next = submissionId(jobKey, all.length + 1);
      await post(next, {
        entrypoint: last.entrypoint,
        runtime_env: last.runtime_env ?? {},
        entrypoint_num_cpus: last.entrypoint_num_cpus ?? trainer.numCpus,
        entrypoint_num_gpus: last.entrypoint_num_gpus ?? trainer.numGpus,
        entrypoint_resources: last.entrypoint_resources ?? trainer.entrypointResources,
        metadata: { ...last.metadata, attempt: String(all.length + 1) },
      });
      return {
        state: 'running',
        detail: `attempt ${all.length} failed (${last.message ?? 'no detail'}): resubmitted as ${next}`,
      };
    },

    /** Every attempt's log, oldest first, so a resumed attempt's log follows the one it resumed from. */
    async logs({ jobKey }: JobRef) {
      const logs: string[] = [];
      const count = (await attempts(jobKey)).length;
      for (let n = 1; n <= count; n++) {
        const id = encodeURIComponent(submissionId(jobKey, n));
        const { body } = await requestJson(api(`${id}/logs`), { what });
        logs.push((body as { logs: string }).logs);
      }
      return logs.join('\n');
    },

    async cancel(job: JobRef) {
      const all = await attempts(job.jobKey);
      if (all.length === 0) return;
      const id = encodeURIComponent(submissionId(job.jobKey, all.length));
      const { status } = await requestJson(api(`${id}/stop`), { what, method: 'POST', allow: [404] });
      if (status !== 404) await untilStopped(backend, job, stopTimeoutMs);
    },
  };
  return backend;
}
