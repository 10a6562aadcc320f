import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';

import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { kubernetesBackend } from '../../trainers/kubernetes.js';
import { loadConfigFile } from '../../client/config-file.js';
import type { KubernetesTrainer, RunConfig } from '../../core/config.js';
import { searchAttributeFlags, searchAttributeKeys } from '../../core/search-attributes.js';
import { startFakeKubernetes, type FakeKubernetes } from '../support/fake-kubernetes.js';
import { cliDevServer } from '../support/dev-server.js';
import { freePort } from '../support/ports.js';
import { requireInstalled, temporalCli } from '../support/paths.js';
import { until } from '../support/until.js';
import { trainer } from '../support/training.js';

/** The Kubernetes version the manifests are validated against (kubernetes-validate carries its schemas). */
const KUBERNETES_VERSION = '1.33.0';
const run = promisify(execFile);
const tools = resolve(process.env.EVOLVE_HOME ?? '.evolve', 'deploy-tools', 'bin');
const tool = (name: string) => requireInstalled(join(tools, name));
const scratch = mkdtempSync(join(tmpdir(), 'evolve-deploy-'));
const read = (path: string) => readFileSync(path, 'utf8');

type Doc = { kind: string; apiVersion: string; metadata: { name: string }; [key: string]: unknown };

async function kustomize(dir: string): Promise<{ text: string; docs: Doc[] }> {
  const { stdout } = await run(tool('kustomize'), ['build', dir], { maxBuffer: 16 << 20 });
  return { text: stdout, docs: parseAllDocuments(stdout).map((d) => d.toJS() as Doc) };
}

/** kubernetes-validate --strict: unknown fields fail too. Resolves to its report; rejects on failure. */
async function validateKubernetes(text: string): Promise<string> {
  const file = join(scratch, `manifests-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  try {
    const { stdout, stderr } = await run(
      tool('kubernetes-validate'),
      ['--strict', '--kubernetes-version', KUBERNETES_VERSION, file],
      { maxBuffer: 16 << 20 },
    );
    return stdout + stderr;
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    throw new Error(`kubernetes-validate: ${stdout}${stderr}`, { cause: err });
  }
}

/** A ConfigMap of a configMapGenerator: its name gets a hash suffix. */
const generated = (docs: Doc[], name: string) =>
  find(
    docs,
    'ConfigMap',
    docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith(`${name}-`))?.metadata.name ?? name,
  );

const find = (docs: Doc[], kind: string, name: string) => {
  const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
  assert.ok(doc, `${kind}/${name} is rendered`);
  return doc as Doc & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
};

test('the Dockerfiles pass hadolint, which rejects an unpinned base image', async () => {
  await run(tool('hadolint'), ['deploy/docker/worker.Dockerfile', 'deploy/docker/trainer.Dockerfile']);
  const bad = join(scratch, 'bad.Dockerfile');
  writeFileSync(bad, 'FROM node\nRUN npm ci\n');
  await assert.rejects(run(tool('hadolint'), [bad]), (err: { stdout: string }) => /DL3006/.test(err.stdout));
});

test('worker image: production dependencies, the built dist/, non-root, heap cap and metrics from env', () => {
  const text = read('deploy/docker/worker.Dockerfile');
  assert.match(text, /npm ci --omit=dev/);
  assert.match(text, /\nRUN npm run build\n/);
  const final = text.slice(text.lastIndexOf('\nFROM '));
  assert.match(final, /COPY --from=build \/app\/dist \.\/dist/);
  // The AlpacaEval 2 suite's official annotator files, where defaultAnnotatorConfig looks from /app.
  assert.match(final, /COPY --from=annotator \/alpaca-eval-0\.6\.6 \.\/\.evolve\/alpaca-eval-0\.6\.6\n/);
  assert.match(text, /--no-deps --target \/alpaca-eval-0\.6\.6 alpaca-eval==0\.6\.6\n/);
  assert.doesNotMatch(final, /COPY \. \./, 'no sources in the final image');
  assert.match(final, /\nUSER 1000:1000\n/, 'the final stage runs as uid 1000');
  for (const name of ['EVOLVE_WORKER_HEAP_MB', 'EVOLVE_METRICS_PORT', 'EVOLVE_METRICS_HOST=0.0.0.0'])
    assert.ok(final.includes(name), name);
  const entrypoint = /^ENTRYPOINT (.+)$/m.exec(final)?.[1];
  assert.deepEqual(JSON.parse(entrypoint!), [
    '/usr/bin/tini',
    '--',
    '/app/deploy/docker/worker-entrypoint.sh',
  ]);
});

test('worker entry point: node replaces the shell (SIGTERM reaches it) with the heap cap of the env', async () => {
  // A stand-in `node` that prints its pid and argv: exec keeps the pid of the process that was started.
  const bin = mkdtempSync(join(scratch, 'bin-'));
  writeFileSync(join(bin, 'node'), '#!/bin/sh\necho "$$ $*"\n');
  chmodSync(join(bin, 'node'), 0o755);
  const start = (args: string[]) =>
    new Promise<{ pid: number; out: string }>((done, fail) => {
      const child = spawn('deploy/docker/worker-entrypoint.sh', args, {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, EVOLVE_WORKER_HEAP_MB: '777' },
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.on('error', fail).on('exit', () => done({ pid: child.pid!, out: out.trim() }));
    });
  const dist = resolve('dist');
  const worker = await start([]);
  assert.equal(worker.out, `${worker.pid} --max-old-space-size=777 ${dist}/workers/main.js`);
  const codec = await start(['codec-server', '--host', '0.0.0.0']);
  assert.equal(codec.out, `${codec.pid} ${dist}/client/cli.js codec-server --host 0.0.0.0`);
});

test('trainer image installs the pins of deploy/requirements.txt for torch, transformers, trl, peft, ray', async () => {
  const text = read('deploy/docker/trainer.Dockerfile');
  const pattern = /grep -E '([^']+)' \/tmp\/requirements\.txt/.exec(text)?.[1];
  assert.ok(pattern, 'the Dockerfile filters deploy/requirements.txt');
  const { stdout } = await run('grep', ['-E', pattern, 'deploy/requirements.txt']);
  const names = stdout
    .trim()
    .split('\n')
    .map((line) => {
      assert.match(line, /^[a-z]+(\[[a-z]+\])?==\d/, `${line} is pinned`);
      return line.split(/[[=]/)[0];
    });
  assert.deepEqual(names.sort(), ['peft', 'ray', 'torch', 'transformers', 'trl']);
});

/** The setup command of a manifest, run with the real Temporal CLI would register these. */
function registeredAttributes(script: string): string[] {
  const list = /for attr in ([^;]+);/.exec(script)?.[1];
  assert.ok(list, 'the setup script lists the search attributes');
  return list.trim().split(/\s+/);
}

test('Compose file: valid against the Compose specification, consistent with the code and its run config', async () => {
  await run(tool('check-jsonschema'), [
    '--builtin-schema',
    'vendor.compose-spec',
    'deploy/compose/compose.yaml',
  ]);
  const compose = parse(read('deploy/compose/compose.yaml')) as {
    services: Record<string, Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const { services } = compose;
  for (const [name, service] of Object.entries(services)) {
    assert.ok(service.restart, `${name} has a restart policy`);
    if (!['temporal-setup', 'temporal-ui', 'worker'].includes(name))
      assert.ok(service.healthcheck, `${name} has a health check`);
  }
  assert.deepEqual(registeredAttributes(services['temporal-setup']!.command[0]), searchAttributeFlags);
  // Longer than the worker's shutdownGraceTime (10 s).
  assert.ok(parseInt(services.worker!.stop_grace_period, 10) > 10);
  assert.equal(services.vllm!.environment.VLLM_ALLOW_RUNTIME_LORA_UPDATING, 'True');
  assert.ok(services.vllm!.command.includes('--enable-lora'));
  assert.deepEqual(services.vllm!.deploy.resources.reservations.devices[0].capabilities, ['gpu']);
  assert.match(services['temporal-ui']!.environment.TEMPORAL_CODEC_ENDPOINT, /8081/);

  const config = loadConfigFile('deploy/compose/evolve.yaml');
  assert.equal(config.policy.endpoint.baseUrl, 'http://vllm:8000/v1');
  assert.equal(config.trainer.backend === 'ray' && config.trainer.address, 'http://ray-head:8265');
  assert.ok(config.artifactRoot.startsWith('/data/') && config.policy.baseModel.startsWith('/data/'));
  const maxRank = Number(/VLLM_MAX_LORA_RANK:-(\d+)/.exec(services.vllm!.command.join(' '))?.[1]);
  assertLoraFits(config, maxRank);
});

/** Each iteration's adapter stacks on its parent's: vLLM's --max-lora-rank must hold r x iterations. */
function assertLoraFits(config: RunConfig, maxLoraRank: number) {
  const r = config.trainer.lora?.r;
  assert.ok(r, 'the example trains LoRA adapters (vllm-lora)');
  assert.ok(r * config.iterations <= maxLoraRank, `rank ${r} x ${config.iterations} <= ${maxLoraRank}`);
}

let fake: FakeKubernetes;
before(async () => (fake = await startFakeKubernetes()));
after(async () => fake?.close());

test(`kustomize: the base and every overlay render and validate against Kubernetes ${KUBERNETES_VERSION}`, async () => {
  const base = await kustomize('deploy/k8s/base');
  assert.match(await validateKubernetes(base.text), /passed for resource deployment\/evolve-worker/);
  const broken = base.text.replace('readOnlyRootFilesystem: true', 'readOnlyRootFilesystm: true');
  await assert.rejects(
    validateKubernetes(broken),
    /readOnlyRootFilesystm/,
    'strict validation rejects a typo',
  );

  const worker = find(base.docs, 'Deployment', 'evolve-worker');
  const pod = worker.spec.template.spec;
  // Longer than the activity heartbeat timeout (1 min): a draining worker's shards are not given away.
  assert.ok(pod.terminationGracePeriodSeconds > 60);
  assert.equal(pod.securityContext.runAsNonRoot, true);
  const [container] = pod.containers;
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'])
    assert.equal(container[probe].httpGet.path, '/metrics', probe);
  const env = generated(base.docs, 'evolve-worker');
  const heapMb = Number(env.data.EVOLVE_WORKER_HEAP_MB);
  const limitMi =
    parseInt(container.resources.limits.memory, 10) *
    (container.resources.limits.memory.endsWith('Gi') ? 1024 : 1);
  assert.ok(
    limitMi >= heapMb + 256,
    `memory limit ${limitMi} Mi leaves native room above the ${heapMb} MB heap`,
  );
  assert.equal(find(base.docs, 'PodDisruptionBudget', 'evolve-worker').spec.minAvailable, 1);
  const job = find(base.docs, 'Job', 'evolve-search-attributes');
  assert.deepEqual(registeredAttributes(job.spec.template.spec.containers[0].args[0]), searchAttributeFlags);

  const vllm = find(base.docs, 'Deployment', 'vllm-policy').spec.template.spec.containers[0];
  assert.equal(vllm.resources.limits['nvidia.com/gpu'], '1');
  const config = loadConfigFile('deploy/k8s/base/evolve.yaml');
  assertLoraFits(config, Number(/--max-lora-rank=(\d+)/.exec(vllm.args.join(' '))?.[1]));
  assert.equal(config.trainer.backend, 'kubernetes');
  const k8sTrainer = config.trainer as KubernetesTrainer;
  find(base.docs, 'PersistentVolumeClaim', k8sTrainer.volume!.claimName);
  assert.equal(
    config.policy.endpoint.baseUrl,
    `http://${find(base.docs, 'Service', 'vllm-policy').metadata.name}.evolve.svc:8000/v1`,
  );

  const ray = await kustomize('deploy/k8s/overlays/ray');
  assert.match(await validateKubernetes(ray.text), /Couldn't find schema for kind RayCluster/);
  // The RayCluster's pod templates are Kubernetes pod templates: validate them as such.
  const cluster = find(ray.docs, 'RayCluster', 'evolve-ray');
  const templates = [
    cluster.spec.headGroupSpec.template,
    ...cluster.spec.workerGroupSpecs.map((g: { template: unknown }) => g.template),
  ];
  const asPodTemplates = templates
    .map((template, i) =>
      JSON.stringify({ apiVersion: 'v1', kind: 'PodTemplate', metadata: { name: `ray-${i}` }, template }),
    )
    .join('\n---\n');
  assert.match(await validateKubernetes(asPodTemplates), /passed for resource podtemplate\/ray-1/);
  for (const t of templates)
    assert.equal(t.spec.containers[0].image, 'registry.example.com/evolve-trainer:0.1.0');
  assert.equal(
    generated(ray.docs, 'evolve-run').data['evolve.yaml'],
    read('deploy/k8s/overlays/ray/evolve.yaml'),
  );
  const rayConfig = loadConfigFile('deploy/k8s/overlays/ray/evolve.yaml');
  assert.equal(rayConfig.trainer.backend, 'ray');
  assert.equal(
    rayConfig.trainer.backend === 'ray' && rayConfig.trainer.address,
    `http://${cluster.metadata.name}-head-svc.evolve.svc:8265`,
  );

  for (const overlay of ['temporal-cloud', 'temporal-cloud-mtls']) {
    const cloud = await kustomize(`deploy/k8s/overlays/${overlay}`);
    await validateKubernetes(cloud.text);
    assert.ok(!cloud.docs.some((d) => d.kind === 'Job'), `${overlay}: no self-hosted search-attribute Job`);
  }
});

test('the Role lets the Kubernetes training backend do every request it makes', async () => {
  const { docs } = await kustomize('deploy/k8s/base');
  const role = find(docs, 'Role', 'evolve-training') as unknown as {
    rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  };
  const binding = find(docs, 'RoleBinding', 'evolve-worker-training');
  const worker = find(docs, 'Deployment', 'evolve-worker');
  assert.deepEqual(binding.subjects, [
    { kind: 'ServiceAccount', name: worker.spec.template.spec.serviceAccountName, namespace: 'evolve' },
  ]);

  process.env.EVOLVE_TEST_KUBE_TOKEN = fake.token;
  const config = trainer({
    backend: 'kubernetes',
    apiServer: fake.apiServer,
    tokenEnv: 'EVOLVE_TEST_KUBE_TOKEN',
    namespace: 'evolve',
    image: 'trainer',
  }) as KubernetesTrainer;
  const backend = kubernetesBackend(config);
  const job = { jobKey: `rbac-${process.pid}`, jobDir: scratch };
  await backend.probe!(); // evolve doctor's check
  await backend.submit({ ...job, command: ['sh', '-c', 'echo trained'], env: {} });
  const seen = (await backend.find(job))!;
  await backend.watch!(job, seen, { timeoutMs: 1000, signal: new AbortController().signal });
  await backend.logs(job);
  await backend.cancel(job);

  // Each request as the API server's authorizer sees it: (API group, resource, verb).
  const asked = new Set(
    fake.requests.map(({ method, path }) => {
      const url = new URL(path, 'http://x');
      const m =
        /^\/(?:api\/v1|apis\/([^/]+)\/v1)\/namespaces\/[^/]+\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(
          url.pathname,
        );
      assert.ok(m, path);
      const [, group = '', resource, name, sub] = m;
      const verb =
        method === 'POST'
          ? 'create'
          : method === 'DELETE'
            ? 'delete'
            : url.searchParams.get('watch') === 'true'
              ? 'watch'
              : name
                ? 'get'
                : 'list';
      return `${group}/${resource}${sub ? `/${sub}` : ''}:${verb}`;
    }),
  );
  assert.ok(asked.size >= 6, [...asked].join(' '));
  for (const request of asked) {
    const [resource, verb] = request.split(':') as [string, string];
    const [group, ...rest] = resource.split('/');
    const allowed = role.rules.some(
      (r) => r.apiGroups.includes(group!) && r.resources.includes(rest.join('/')) && r.verbs.includes(verb),
    );
    assert.ok(allowed, `the Role allows ${request}`);
  }
});

test('the setup scripts of Compose and Kubernetes register the search attributes on a real Temporal, twice', async () => {
  const { env } = await cliDevServer();
  const compose = parse(read('deploy/compose/compose.yaml')).services['temporal-setup'].command[0] as string;
  const job = parse(read('deploy/k8s/base/search-attributes-job.yaml')).spec.template.spec.containers[0]
    .args[0];
  // Compose writes a literal $ as $$; the Job's script is the same once that is undone.
  assert.equal(compose.replaceAll('$$', '$'), job);
  await run('sh', ['-c', job], { env });
  await run('sh', ['-c', job], { env }); // a rerun finds them and changes nothing
  const { stdout } = await run(temporalCli, ['operator', 'search-attribute', 'list', '--output', 'json'], {
    env,
  });
  const custom = (JSON.parse(stdout) as { customAttributes: Record<string, string> }).customAttributes;
  assert.deepEqual(
    Object.entries(custom)
      .map(([name, type]) => `${name}=${type.replace('INDEXED_VALUE_TYPE_', '')}`)
      .sort(),
    searchAttributeKeys.map((k) => `${k.name}=${k.type}`).sort(),
  );
});

test('npm run build, then the image command starts the built worker with plain node from its bundle, serves metrics, drains on SIGTERM', async () => {
  const { address } = await cliDevServer();
  // The Dockerfile's build step, as it runs there.
  await run('bash', ['scripts/build.sh'], { maxBuffer: 16 << 20 });
  for (const file of ['workers/main.js', 'client/cli.js', 'workflow-bundle.js', 'deploy/trainer/dpo.py'])
    assert.ok(existsSync(join('dist', file)), `dist/${file}`);
  const metricsPort = await freePort();
  const start = (bundlePath?: string) => {
    const child = spawn('deploy/docker/worker-entrypoint.sh', ['worker'], {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: address,
        EVOLVE_TASK_QUEUE: 'deploy-image',
        ...(bundlePath ? { EVOLVE_WORKFLOW_BUNDLE: bundlePath } : {}),
        NODE_OPTIONS: '',
        EVOLVE_WORKER_HEAP_MB: '300',
        EVOLVE_METRICS_HOST: '127.0.0.1',
        EVOLVE_METRICS_PORT: String(metricsPort),
        EVOLVE_LOG_FORMAT: 'json',
      },
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    return { child, exited, out: () => out };
  };

  // A missing bundle is named: the worker reads the file it is given, it does not bundle on its own.
  const missing = start(join(scratch, 'no-such-bundle.js'));
  assert.equal(await missing.exited, 1);
  assert.match(missing.out(), /evolve worker failed: .*no-such-bundle\.js/);

  // No bundle named: the built worker reads dist/workflow-bundle.js.
  const worker = start();
  try {
    await until('the worker to start polling', () => /"state":"RUNNING"/.test(worker.out()));
    assert.match(worker.out(), /"heapLimitMb":3\d\d/);
    assert.doesNotMatch(worker.out(), /webpack|Workflow bundle created/i, 'no bundling at start');
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.match(await metrics.text(), /task_queue="deploy-image"/);
  } finally {
    worker.child.kill('SIGTERM');
  }
  assert.equal(await worker.exited, 0, worker.out());
  assert.match(worker.out(), /"state":"STOPPED"/);
});
