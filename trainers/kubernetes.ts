import { readFile } from 'node:fs/promises';
import type { KubernetesTrainer } from '../core/config.js';
import { ConfigError } from '../core/config.js';
import { fnv1a64 } from '../core/templates.js';
import { untilStopped, type JobSpec, type JobStatus, type TrainingBackend } from './backend.js';
import { requestJson, send, streamJsonLines } from './http.js';
import { registerSecret } from '../core/redact.js';
import { readSecret } from '../core/secret-env.js';

/**
 * The Kubernetes backend: one batch/v1 Job per job key, created through the API server's REST API. The
 * Job's name is derived from the key, so a second create answers 409 AlreadyExists and finds the first.
 * Pod retries (backoffLimit = maxRestarts) resume from the last checkpoint on the shared volume.
 */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** A DNS-1123 label (<= 63 chars) from the job key; hashed when the key does not fit as it is. */
export function jobName(jobKey: string): string {
  const clean = jobKey
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (clean === jobKey && clean.length <= 63) return clean;
  return `${clean.slice(0, 46).replace(/-+$/, '')}-${fnv1a64(jobKey)}`;
}

export function jobManifest(trainer: KubernetesTrainer, spec: JobSpec) {
  const name = jobName(spec.jobKey);
  const labels = { 'app.kubernetes.io/managed-by': 'evolve', 'evolve.dev/job': name };
  const volume = trainer.volume;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: trainer.namespace,
      labels,
      annotations: { 'evolve.dev/job-key': spec.jobKey },
    },
    spec: {
      backoffLimit: trainer.maxRestarts,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          ...(trainer.serviceAccountName ? { serviceAccountName: trainer.serviceAccountName } : {}),
          nodeSelector: trainer.nodeSelector,
          tolerations: trainer.tolerations,
          containers: [
            {
              name: 'trainer',
              image: trainer.image,
              command: spec.command,
              workingDir: spec.jobDir,
              env: Object.entries(spec.env).map(([n, value]) => ({ name: n, value })),
              resources: {
                limits: trainer.gpus > 0 ? { 'nvidia.com/gpu': String(trainer.gpus) } : {},
                requests: {
                  ...(trainer.cpu ? { cpu: trainer.cpu } : {}),
                  ...(trainer.memory ? { memory: trainer.memory } : {}),
                },
              },
              ...(volume ? { volumeMounts: [{ name: 'artifacts', mountPath: volume.mountPath }] } : {}),
            },
          ],
          ...(volume
            ? { volumes: [{ name: 'artifacts', persistentVolumeClaim: { claimName: volume.claimName } }] }
            : {}),
        },
      },
    },
  };
}

interface JobObject {
  status?: {
    active?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

/** A Job's state from its conditions (Complete / Failed) and active pod count. */
function statusOf(job: JobObject): JobStatus {
  const done = (type: string) => job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
  const failed = done('Failed');
  if (done('Complete')) return { state: 'succeeded' };
  if (failed) return { state: 'failed', detail: [failed.reason, failed.message].filter(Boolean).join(': ') };
  return { state: job.status?.active ? 'running' : 'pending' };
}

/** One event of a watch stream (https://kubernetes.io/docs/reference/using-api/api-concepts/#watch). */
interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: JobObject;
}

export function kubernetesBackend(trainer: KubernetesTrainer, stopTimeoutMs = 120_000): TrainingBackend {
  const base = trainer.apiServer.replace(/\/$/, '');
  const jobs = `${base}/apis/batch/v1/namespaces/${trainer.namespace}/jobs`;
  const pods = `${base}/api/v1/namespaces/${trainer.namespace}/pods`;
  const what = `Kubernetes API (namespace ${trainer.namespace})`;

  async function headers(): Promise<Record<string, string>> {
    let token: string | undefined;
    if (trainer.tokenEnv) {
      token = readSecret(trainer.tokenEnv, 'kubeToken', 'trainer.tokenEnv');
      if (!token)
        throw new ConfigError(`trainer.tokenEnv: ${trainer.tokenEnv} is not set in the worker's environment`);
    } else {
      token = await readFile(SERVICE_ACCOUNT_TOKEN, 'utf8').catch(() => undefined);
      if (token) registerSecret(token.trim());
    }
    return token ? { authorization: `Bearer ${token.trim()}` } : {};
  }

  const backend: TrainingBackend = {
    async probe() {
      // Listing the namespace's Jobs needs the same credentials and RBAC as creating and watching them.
      await requestJson(`${jobs}?limit=1`, { what, headers: await headers() });
      return `kubernetes: ${base}, namespace ${trainer.namespace}: Jobs readable`;
    },

    async submit(spec) {
      if (await backend.find(spec)) return;
      // 409 AlreadyExists: a concurrent submit created it first.
      await requestJson(jobs, {
        what,
        method: 'POST',
        headers: await headers(),
        body: JSON.stringify(jobManifest(trainer, spec)),
        allow: [409],
      });
    },

    async find({ jobKey }) {
      const { status, body } = await requestJson(`${jobs}/${jobName(jobKey)}`, {
        what,
        headers: await headers(),
        allow: [404],
      });
      if (status === 404) return null;
      return statusOf(body as JobObject);
    },

    /**
     * A watch on this one Job (fieldSelector on its name). Started without a resourceVersion, it first
     * sends the Job as it is now (ADDED), so a change between the caller's look and the watch is seen.
     */
    async watch({ jobKey }, seen, { timeoutMs, signal }) {
      const query = new URLSearchParams({
        watch: 'true',
        fieldSelector: `metadata.name=${jobName(jobKey)}`,
        timeoutSeconds: String(Math.max(1, Math.ceil(timeoutMs / 1000))),
      });
      await streamJsonLines(`${jobs}?${query}`, { what, headers: await headers(), signal }, (event) => {
        const { type, object } = event as WatchEvent;
        if (type === 'DELETED' || type === 'ERROR') return true; // gone, or a stale watch: look again
        if (type === 'BOOKMARK') return false;
        const now = statusOf(object);
        return now.state !== seen.state || now.detail !== seen.detail;
      });
    },

    /** Every pod's log, oldest first, so a retried pod's log follows the one it resumed from. */
    async logs({ jobKey }) {
      const selector = encodeURIComponent(`evolve.dev/job=${jobName(jobKey)}`);
      const { body } = await requestJson(`${pods}?labelSelector=${selector}`, {
        what,
        headers: await headers(),
      });
      const items = (body as { items: { metadata: { name: string; creationTimestamp?: string } }[] }).items;
      items.sort((a, b) =>
        (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? ''),
      );
      const logs: string[] = [];
      for (const pod of items) {
        const res = await send(`${pods}/${pod.metadata.name}/log`, { headers: await headers() });
        if (res.status === 200) logs.push(res.text);
      }
      return logs.join('\n');
    },

    async cancel(job) {
      const { status } = await requestJson(`${jobs}/${jobName(job.jobKey)}`, {
        what,
        method: 'DELETE',
        headers: await headers(),
        body: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' }),
        allow: [404],
      });
      if (status !== 404) await untilStopped(backend, job, stopTimeoutMs);
    },
  };
  return backend;
}
