import type { RayTrainer } from '../../core/config.js';
import { untilStopped, type JobState, type TrainingBackend } from './backend.js';
import { requestJson } from './http.js';

/**
 * The Ray backend: the Ray Jobs REST API of a cluster's dashboard. The job key is the submission id, so
 * a second submit finds the first job. The trainer reads and writes the artifact filesystem, which the
 * Ray nodes must share with the worker.
 */
const states: Record<string, JobState> = {
  PENDING: 'pending',
  RUNNING: 'running',
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  STOPPED: 'stopped',
};

const shellQuote = (arg: string) =>
  /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;

export function rayBackend(trainer: RayTrainer, stopTimeoutMs = 60_000): TrainingBackend {
  const api = (path: string) => `${trainer.address.replace(/\/$/, '')}/api/jobs/${path}`;
  const what = 'Ray Jobs API';

  const backend: TrainingBackend = {
    async submit(spec) {
      if (await backend.find(spec)) return;
      const runtimeEnv = trainer.runtimeEnv as { env_vars?: Record<string, string> };
      const { status, body } = await requestJson(api(''), {
        what,
        method: 'POST',
        allow: [400, 409, 500],
        body: JSON.stringify({
          submission_id: spec.jobKey,
          entrypoint: spec.command.map(shellQuote).join(' '),
          runtime_env: { ...runtimeEnv, env_vars: { ...spec.env, ...runtimeEnv.env_vars } },
          entrypoint_num_cpus: trainer.numCpus,
          entrypoint_num_gpus: trainer.numGpus,
          metadata: { jobKey: spec.jobKey, jobDir: spec.jobDir },
        }),
      });
      // Ray answers a taken submission id with an error (500 in 2.60): if the job exists, it is the one asked for.
      if (status !== 200 && !(await backend.find(spec))) {
        throw new Error(`${what}: submitting ${spec.jobKey} answered ${status}: ${JSON.stringify(body)}`);
      }
    },

    async find({ jobKey }) {
      const { status, body } = await requestJson(api(encodeURIComponent(jobKey)), { what, allow: [404] });
      if (status === 404) return null;
      const job = body as { status: string; message?: string };
      const state = states[job.status];
      if (!state) throw new Error(`${what}: job ${jobKey} has an unknown status ${job.status}`);
      return { state, ...(job.message ? { detail: job.message } : {}) };
    },

    async logs({ jobKey }) {
      const { body } = await requestJson(api(`${encodeURIComponent(jobKey)}/logs`), { what });
      return (body as { logs: string }).logs;
    },

    async cancel(job) {
      const { status } = await requestJson(api(`${encodeURIComponent(job.jobKey)}/stop`), {
        what,
        method: 'POST',
        allow: [404],
      });
      if (status !== 404) await untilStopped(backend, job, stopTimeoutMs);
    },
  };
  return backend;
}
