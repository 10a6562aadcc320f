import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { reapOnExit } from './processes.js';

/**
 * A Kubernetes API server for the batch/v1 Jobs the Kubernetes backend uses, speaking the real REST
 * protocol: bearer tokens, Status objects on errors, 409 AlreadyExists, 422 Invalid, and watches
 * (`?watch=true`: a stream of newline-delimited ADDED / MODIFIED / DELETED events, ended after
 * timeoutSeconds). It stands in for a
 * cluster by running each pod's container command as a local process (the kubelet's part), retrying
 * failed pods up to the Job's backoffLimit.
 */
interface Pod {
  name: string;
  labels: Record<string, string>;
  created: string;
  log: string;
  process: ChildProcess;
}

interface StoredJob {
  manifest: JobManifest;
  pods: Pod[];
  failures: number;
  conditions: { type: string; status: 'True'; reason?: string; message?: string }[];
}

export interface JobManifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: {
    backoffLimit?: number;
    template: {
      metadata?: { labels?: Record<string, string> };
      spec: {
        containers: {
          command: string[];
          env?: { name: string; value: string }[];
          workingDir?: string;
        }[];
      };
    };
  };
}

export interface FakeKubernetes {
  apiServer: string;
  token: string;
  jobs: Map<string, StoredJob>;
  /** Every event sent to a watcher, in order. */
  events: { type: string; name: string }[];
  requests: { method: string; path: string; body: unknown }[];
  /** An API server that is down (an upgrade, a lost control plane): every request answers 503. */
  down: boolean;
  close(): Promise<void>;
}

const DNS_1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function status(res: ServerResponse, code: number, reason: string, message: string) {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code }));
}

function json(res: ServerResponse, code: number, body: unknown) {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : null;
}

export async function startFakeKubernetes(token = 'test-token'): Promise<FakeKubernetes> {
  reapOnExit(); // its pods are detached processes
  const jobs = new Map<string, StoredJob>();
  const requests: FakeKubernetes['requests'] = [];
  const events: FakeKubernetes['events'] = [];
  const watchers = new Set<{ name: string; res: ServerResponse }>();
  const fake = { down: false } as FakeKubernetes;

  function jobObject(job: StoredJob) {
    const active = job.pods.filter((p) => p.process.exitCode === null && p.process.signalCode === null);
    return {
      ...job.manifest,
      status: { active: active.length, failed: job.failures, conditions: job.conditions },
    };
  }

  /** Sends the Job's new state to each watcher of its name, as the API server's watch does. */
  function notify(type: 'ADDED' | 'MODIFIED' | 'DELETED', job: StoredJob) {
    const name = job.manifest.metadata.name;
    for (const w of watchers) {
      if (w.name !== name) continue;
      events.push({ type, name });
      w.res.write(JSON.stringify({ type, object: jobObject(job) }) + '\n');
    }
  }

  function runPod(job: StoredJob) {
    const { metadata, spec } = job.manifest;
    const container = spec.template.spec.containers[0]!;
    const [cmd, ...args] = container.command;
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
    const child = spawn(cmd!, args, {
      cwd: container.workingDir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const pod: Pod = {
      name: `${metadata.name}-${job.pods.length}${Math.random().toString(36).slice(2, 7)}`,
      labels: { ...spec.template.metadata?.labels, 'job-name': metadata.name },
      created: new Date(Date.now() + job.pods.length).toISOString(),
      log: '',
      process: child,
    };
    child.stdout!.on('data', (c: Buffer) => (pod.log += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (pod.log += c.toString()));
    child.on('exit', (code) => {
      if (jobs.get(metadata.name) !== job) return; // deleted
      if (code === 0) {
        job.conditions.push({ type: 'Complete', status: 'True' });
        return notify('MODIFIED', job);
      }
      job.failures++;
      if (job.failures > (spec.backoffLimit ?? 6)) {
        job.conditions.push({
          type: 'Failed',
          status: 'True',
          reason: 'BackoffLimitExceeded',
          message: 'Job has reached the specified backoff limit',
        });
        notify('MODIFIED', job);
      } else runPod(job);
    });
    job.pods.push(pod);
    notify('MODIFIED', job);
  }

  /** GET .../jobs?watch=true&fieldSelector=metadata.name=X&timeoutSeconds=N */
  function watch(url: URL, res: ServerResponse) {
    const name = /^metadata\.name=(.+)$/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
    if (!name)
      return status(res, 400, 'BadRequest', 'this fake watches one Job: fieldSelector=metadata.name=...');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const watcher = { name, res };
    watchers.add(watcher);
    const job = jobs.get(name);
    if (job) notify('ADDED', job); // no resourceVersion: the current state first
    const timeout = setTimeout(
      () => res.end(),
      Number(url.searchParams.get('timeoutSeconds') ?? 1800) * 1000,
    );
    res.on('close', () => {
      clearTimeout(timeout);
      watchers.delete(watcher);
    });
  }

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url!, 'http://localhost');
      const body = req.method === 'POST' || req.method === 'DELETE' ? await readBody(req) : null;
      requests.push({ method: req.method!, path: url.pathname + url.search, body });
      if (fake.down) return status(res, 503, 'ServiceUnavailable', 'the API server is down');
      if (req.headers.authorization !== `Bearer ${token}`)
        return status(res, 401, 'Unauthorized', 'Unauthorized');
      const jobsPath = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs(?:\/([^/]+))?$/.exec(url.pathname);
      const podsPath = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+)\/log)?$/.exec(url.pathname);
      if (jobsPath && req.method === 'GET' && !jobsPath[2] && url.searchParams.get('watch') === 'true') {
        return watch(url, res);
      }
      if (jobsPath && req.method === 'GET' && !jobsPath[2]) {
        const items = [...jobs.values()].map(jobObject);
        const limit = Number(url.searchParams.get('limit') ?? items.length);
        return json(res, 200, { kind: 'JobList', apiVersion: 'batch/v1', items: items.slice(0, limit) });
      }
      if (jobsPath && req.method === 'POST' && !jobsPath[2]) {
        const manifest = body as JobManifest;
        const name = manifest?.metadata?.name ?? '';
        if (manifest?.apiVersion !== 'batch/v1' || manifest.kind !== 'Job') {
          return status(res, 400, 'BadRequest', 'expected a batch/v1 Job');
        }
        if (!DNS_1123.test(name) || name.length > 63) {
          return status(res, 422, 'Invalid', `Job.batch "${name}" is invalid: metadata.name: Invalid value`);
        }
        if (!manifest.spec?.template?.spec?.containers?.[0]?.command?.length) {
          return status(res, 422, 'Invalid', `Job.batch "${name}" is invalid: spec.template.spec.containers`);
        }
        if (jobs.has(name)) return status(res, 409, 'AlreadyExists', `jobs.batch "${name}" already exists`);
        const job: StoredJob = { manifest, pods: [], failures: 0, conditions: [] };
        jobs.set(name, job);
        runPod(job);
        return json(res, 201, manifest);
      }
      if (jobsPath?.[2]) {
        const job = jobs.get(jobsPath[2]);
        if (!job) return status(res, 404, 'NotFound', `jobs.batch "${jobsPath[2]}" not found`);
        if (req.method === 'GET') return json(res, 200, jobObject(job));
        if (req.method === 'DELETE') {
          jobs.delete(jobsPath[2]);
          notify('DELETED', job);
          for (const pod of job.pods) {
            try {
              process.kill(-pod.process.pid!, 'SIGKILL');
            } catch {
              /* already exited */
            }
          }
          return json(res, 200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
        }
      }
      if (podsPath && req.method === 'GET') {
        const pods = [...jobs.values()].flatMap((j) => j.pods);
        if (podsPath[2]) {
          const pod = pods.find((p) => p.name === podsPath[2]);
          if (!pod) return status(res, 404, 'NotFound', `pods "${podsPath[2]}" not found`);
          res.writeHead(200, { 'content-type': 'text/plain' });
          return res.end(pod.log);
        }
        const [key, value] = (url.searchParams.get('labelSelector') ?? '').split('=');
        const items = pods
          .filter((p) => !key || p.labels[key] === value)
          .map((p) => ({ metadata: { name: p.name, labels: p.labels, creationTimestamp: p.created } }));
        return json(res, 200, { kind: 'PodList', apiVersion: 'v1', items });
      }
      status(res, 404, 'NotFound', `the server could not find the requested resource`);
    })().catch((err: Error) => status(res, 500, 'InternalError', err.message));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  Object.assign(fake, {
    apiServer: `http://127.0.0.1:${port}`,
    token,
    jobs,
    requests,
    events,
    close: async () => {
      for (const w of watchers) w.res.end();
      for (const job of jobs.values()) {
        for (const pod of job.pods) {
          try {
            process.kill(-pod.process.pid!, 'SIGKILL');
          } catch {
            /* already exited */
          }
        }
      }
      await new Promise<void>((r) => server.close(() => r()));
    },
  });
  return fake;
}
