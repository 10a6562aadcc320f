import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, globalAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { send, streamJsonLines } from '../../trainers/http.js';
import type { JobManifest } from './fake-kubernetes.js';
import { freePort } from './ports.js';
import { processGroup, reapOnExit } from './processes.js';

/**
 * A real Kubernetes control plane on loopback: etcd and kube-apiserver built from their Go modules
 * (deploy/kube-apiserver.sh), with RBAC, static-token and service-account authentication. Nothing here
 * runs pods, so the test side plays the two missing parts through the real API, as they do in a
 * cluster: the Job controller (a Pod per attempt, owned by the Job, until backoffLimit; the Job's status
 * conditions) and the kubelet (each pod's container command as a local process, the pod's phase, and
 * `/containerLogs/...` over HTTPS, which the API server's `pods/<name>/log` proxies to).
 */
export interface KubeCluster {
  apiServer: string;
  /** A static token of group system:masters: the cluster admin (the test's kubectl). */
  adminToken: string;
  /** As the admin: one request, JSON in and out. */
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<KubeReply>;
  /** Server-side apply of each object (`kubectl apply --server-side`). */
  apply(objects: KubeObject[]): Promise<void>;
  /** The object's REST path, found by API discovery as kubectl finds it. */
  pathOf(object: KubeObject): Promise<string>;
  /** A token of a service account (the TokenRequest API, as a pod's projected token). */
  serviceAccountToken(namespace: string, name: string): Promise<string>;
  /** Plays the Job controller and the kubelet for the Jobs of `namespace`. */
  runJobs(namespace: string): Promise<void>;
  /** What the controller side could not do (a refused status update): a test expects none. */
  errors: string[];
  /** The pods the kubelet side has run, in order: name, Job, exit code (null while running). */
  pods: { name: string; job: string; exitCode: number | null }[];
  stop(): Promise<void>;
}

export interface KubeReply {
  status: number;
  body: Record<string, unknown>;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

export const kubeHome = resolve(process.env.EVOLVE_HOME ?? '.evolve', 'kube');
export const kubeBuilt = (): boolean => {
  try {
    return readFileSync(join(kubeHome, '.version'), 'utf8').includes('kube-apiserver');
  } catch {
    return false;
  }
};

const NODE = 'evolve-test-node';

/** A batch/v1 Job as the controller side reads it: the manifest the backend sent, and its uid. */
type JobObject = JobManifest & { metadata: { uid: string } };

/** A detached server process, logging to `log`. */
function startProcess(cmd: string, args: string[], log: string) {
  const out = openSync(log, 'a');
  return processGroup(spawn(cmd, args, { detached: true, stdio: ['ignore', out, out] }), log);
}

export async function startKubeCluster(): Promise<KubeCluster> {
  reapOnExit();
  const dir = mkdtempSync('/tmp/evolve-kube-');
  const file = (name: string) => join(dir, name);
  // One self-signed certificate for 127.0.0.1 serves the API server and the kubelet side, and is the CA
  // each trusts the other by; the service-account tokens are signed with their own key.
  const subject = '-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1,DNS:localhost';
  execFileSync(
    'openssl',
    [
      ...`req -x509 -newkey rsa:2048 -nodes -days 1 ${subject}`.split(' '),
      '-keyout',
      file('tls.key'),
      '-out',
      file('tls.crt'),
    ],
    { stdio: 'ignore' },
  );
  execFileSync('openssl', ['genrsa', '-out', file('sa.key'), '2048'], { stdio: 'ignore' });
  const adminToken = `admin-${process.pid}-${Date.now()}`;
  writeFileSync(file('tokens.csv'), `${adminToken},evolve-test-admin,evolve-test-admin,"system:masters"\n`);
  const ca = readFileSync(file('tls.crt'), 'utf8');
  // The pod's NODE_EXTRA_CA_CERTS (deploy/k8s/base/worker.yaml) in this process: trust the cluster CA.
  globalAgent.options.ca = ca;

  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcd = startProcess(
    join(kubeHome, 'etcd'),
    [
      '--name',
      'evolve-test',
      '--data-dir',
      file('etcd'),
      '--listen-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${etcdClient}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster',
      `evolve-test=http://127.0.0.1:${etcdPeer}`,
    ],
    file('etcd.log'),
  );
  const apiserver = startProcess(
    join(kubeHome, 'kube-apiserver'),
    [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${file('tls.crt')}`,
      `--tls-private-key-file=${file('tls.key')}`,
      `--token-auth-file=${file('tokens.csv')}`,
      '--authorization-mode=RBAC',
      `--service-account-key-file=${file('sa.key')}`,
      `--service-account-signing-key-file=${file('sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range=10.96.0.0/24',
      `--kubelet-certificate-authority=${file('tls.crt')}`,
      '--kubelet-preferred-address-types=InternalIP',
      // Two shared cores: no request queueing by priority, which only adds work here.
      '--enable-priority-and-fairness=false',
    ],
    file('kube-apiserver.log'),
  );

  const apiServer = `https://127.0.0.1:${apiPort}`;
  const request = async (method: string, path: string, body?: unknown, contentType = 'application/json') => {
    const reply = await send(`${apiServer}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        'content-type': contentType,
        accept: 'application/json',
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    try {
      return { status: reply.status, body: JSON.parse(reply.text) as Record<string, unknown> };
    } catch {
      return { status: reply.status, body: { text: reply.text } };
    }
  };
  const must = async (method: string, path: string, body?: unknown, contentType?: string) => {
    const reply = await request(method, path, body, contentType);
    if (reply.status >= 300)
      throw new Error(`${method} ${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body;
  };

  const kubelet: { server?: ReturnType<typeof createServer> } = {};
  const processes = new Map<string, ReturnType<typeof processGroup>>();
  const logs = new Map<string, string>();
  const pods: KubeCluster['pods'] = [];
  const errors: string[] = [];
  const watches: AbortController[] = [];
  const stop = async () => {
    for (const w of watches) w.abort();
    await Promise.all([...processes.values()].map((p) => p.stop()));
    kubelet.server?.close();
    await apiserver.stop();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + 240_000;
    for (;;) {
      const gone = etcd.exit() ?? apiserver.exit();
      if (gone) throw new Error(`the Kubernetes control plane did not start: ${gone}`);
      const ready = await request('GET', '/readyz').catch(() => null);
      if (ready?.status === 200) break;
      if (Date.now() > deadline)
        throw new Error(`kube-apiserver not ready within 240 s; see ${file('kube-apiserver.log')}`);
      await sleep(1000);
    }
  } catch (err) {
    await stop();
    throw err;
  }

  // The kubelet's log endpoint, which `GET pods/<name>/log` reaches through the API server.
  kubelet.server = createServer({ key: readFileSync(file('tls.key')), cert: ca }, (req, res) => {
    const [, kind, , pod] = (req.url ?? '').split('?')[0]!.split('/');
    const log = kind === 'containerLogs' ? logs.get(pod ?? '') : undefined;
    res.writeHead(log === undefined ? 404 : 200, { 'content-type': 'text/plain' });
    res.end(log ?? 'no such container');
  });
  await new Promise<void>((r) => kubelet.server!.listen(0, '127.0.0.1', r));
  const kubeletPort = (kubelet.server.address() as AddressInfo).port;
  await must('POST', '/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: NODE },
    status: {
      addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
      daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } },
    },
  });

  // API discovery, as kubectl does it: the resource (plural) of a kind and whether it is namespaced.
  type Resource = { name: string; kind: string; namespaced: boolean };
  const discovered = new Map<string, Resource[]>();
  const groupPath = (apiVersion: string) =>
    apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const resourceOf = async (apiVersion: string, kind: string) => {
    if (!discovered.has(apiVersion))
      discovered.set(apiVersion, (await must('GET', groupPath(apiVersion))).resources as Resource[]);
    const found = discovered.get(apiVersion)!.find((r) => r.kind === kind && !r.name.includes('/'));
    if (!found) throw new Error(`${apiVersion} has no kind ${kind}`);
    return found;
  };

  const jobPath = (ns: string, name = '') => `/apis/batch/v1/namespaces/${ns}/jobs${name && `/${name}`}`;
  const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

  /** The kubelet's status update of a pod; a pod deleted meanwhile (a cancelled Job) is no error. */
  async function podStatus(ns: string, name: string, status: Record<string, unknown>) {
    const reply = await request(
      'PATCH',
      `/api/v1/namespaces/${ns}/pods/${name}/status`,
      { status },
      'application/merge-patch+json',
    );
    if (reply.status >= 300 && reply.status !== 404)
      errors.push(`pod ${name} status: ${reply.status} ${JSON.stringify(reply.body)}`);
  }

  /** One attempt of a Job: a Pod owned by it, its container run here, its phase reported. */
  async function runPod(ns: string, job: JobObject, attempt: number): Promise<number> {
    const name = `${job.metadata.name}-${attempt}`;
    const template = job.spec.template;
    const container = template.spec.containers[0]!;
    await must('POST', `/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        labels: { ...template.metadata?.labels, 'job-name': job.metadata.name },
        ownerReferences: [
          {
            apiVersion: 'batch/v1',
            kind: 'Job',
            name: job.metadata.name,
            uid: job.metadata.uid,
            controller: true,
          },
        ],
      },
      spec: { ...template.spec, nodeName: NODE },
    });
    const record = { name, job: job.metadata.name, exitCode: null as number | null };
    pods.push(record);
    logs.set(name, '');
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
    const child = spawn(container.command[0]!, container.command.slice(1), {
      cwd: container.workingDir,
      env: { PATH: process.env.PATH, ...env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Listened for at once: a short container may exit before its Running status is sent.
    const exited = new Promise<number>((r) => child.once('exit', (c) => r(c ?? 137)));
    processes.set(name, processGroup(child));
    const append = (chunk: Buffer) => logs.set(name, logs.get(name) + chunk.toString('utf8'));
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    await podStatus(ns, name, { phase: 'Running', startTime: now() });
    const code = await exited;
    processes.delete(name);
    record.exitCode = code;
    await podStatus(ns, name, { phase: code === 0 ? 'Succeeded' : 'Failed' });
    return code;
  }

  /** What the Job controller does for one Job: attempts until one succeeds or backoffLimit is spent. */
  async function control(ns: string, job: JobObject) {
    const name = job.metadata.name;
    const startTime = now();
    const status = (s: Record<string, unknown>) =>
      must(
        'PATCH',
        `${jobPath(ns, name)}/status`,
        { status: { startTime, ...s } },
        'application/merge-patch+json',
      );
    const limit = job.spec.backoffLimit ?? 6;
    for (let failed = 0; ;) {
      await status({ active: 1, failed });
      const code = await runPod(ns, job, failed);
      const exists = (await request('GET', jobPath(ns, name))).status === 200;
      if (!exists) return; // deleted meanwhile: nothing to report
      const condition = (type: string, reason?: string, message?: string) => ({
        type,
        status: 'True',
        lastProbeTime: now(),
        lastTransitionTime: now(),
        ...(reason && { reason, message }),
      });
      if (code === 0) {
        await status({
          active: 0,
          failed,
          succeeded: 1,
          completionTime: now(),
          conditions: [
            condition(
              'SuccessCriteriaMet',
              'CompletionsReached',
              'Reached expected number of succeeded pods',
            ),
            condition('Complete', 'CompletionsReached', 'Reached expected number of succeeded pods'),
          ],
        });
        return;
      }
      failed++;
      if (failed > limit) {
        const message = 'Job has reached the specified backoff limit';
        await status({
          active: 0,
          failed,
          conditions: [
            condition('FailureTarget', 'BackoffLimitExceeded', message),
            condition('Failed', 'BackoffLimitExceeded', message),
          ],
        });
        return;
      }
    }
  }

  const cluster: KubeCluster = {
    apiServer,
    adminToken,
    request,
    pods,
    errors,
    async pathOf(o) {
      const r = await resourceOf(o.apiVersion, o.kind);
      const ns = r.namespaced ? `/namespaces/${o.metadata.namespace ?? 'default'}` : '';
      return `${groupPath(o.apiVersion)}${ns}/${r.name}/${o.metadata.name}`;
    },
    async apply(objects) {
      for (const o of objects)
        await must(
          'PATCH',
          `${await cluster.pathOf(o)}?fieldManager=evolve-test&force=true`,
          o,
          'application/apply-patch+yaml',
        );
    },
    async serviceAccountToken(namespace, name) {
      const body = await must('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      });
      return (body.status as { token: string }).token;
    },
    async runJobs(namespace) {
      // The ServiceAccount admission plugin needs the namespace's `default` account, which the
      // controller manager would create.
      const sa = await request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: 'default' },
      });
      if (sa.status !== 201 && sa.status !== 409) throw new Error(`default service account: ${sa.status}`);
      const seen = new Set<string>(); // by uid: a Job deleted and created again is a new one
      const watch = new AbortController();
      watches.push(watch);
      void (async () => {
        while (!watch.signal.aborted) {
          await streamJsonLines(
            `${apiServer}${jobPath(namespace)}?watch=true&timeoutSeconds=60`,
            {
              what: 'the Job controller',
              headers: { authorization: `Bearer ${adminToken}` },
              signal: watch.signal,
            },
            (event) => {
              const { type, object } = event as { type: string; object: JobObject };
              const name = object.metadata.name;
              if (type === 'ADDED' && !seen.has(object.metadata.uid)) {
                seen.add(object.metadata.uid);
                void control(namespace, object).catch((err: Error) =>
                  errors.push(`Job ${name}: ${err.message}`),
                );
              }
              if (type === 'DELETED') {
                // Background propagation: the garbage collector's part, the Job's pods go too.
                for (const p of pods.filter((p) => p.job === name)) {
                  void processes.get(p.name)?.stop();
                  void request('DELETE', `/api/v1/namespaces/${namespace}/pods/${p.name}`);
                }
              }
              return false;
            },
          ).catch(() => sleep(500));
        }
      })();
    },
    stop,
  };
  return cluster;
}
