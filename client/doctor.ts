import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import {
  defaultAnnotatorConfig,
  loadAnnotator,
  loadJudgeConfig,
} from '../storage/benchmarks/official-configs.js';
import { replicaUrls, type Endpoint, type RunConfig } from '../core/config.js';
import { searchAttributeKeys } from '../core/search-attributes.js';
import { stackSettings, stackTemporal, type Health } from '../deploy/stack.js';
import { readSecret } from '../core/secret-env.js';
import { childEnv } from '../core/secrets.js';
import { backendFor } from '../trainers/index.js';
import { loadConfigFile } from './config-file.js';
import { temporalConnection, type TemporalConnectionSettings } from './temporal-connection.js';

const run = promisify(execFile);
const ok = (detail: string): Health => ({ ok: true, detail });
const fail = (detail: string): Health => ({ ok: false, detail });
const message = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0]!;

/** The server answers, the namespace exists, evolve's search attributes are registered, a worker polls. */
async function checkTemporal(
  target: TemporalConnectionSettings,
  taskQueue: string,
): Promise<[string, Health][]> {
  const { namespace, ...options } = target;
  const { address } = target;
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...options, connectTimeout: 3000 });
  } catch (err) {
    return [['temporal', fail(`${address}: ${message(err)}`)]];
  }
  try {
    const checks: [string, Health][] = [];
    try {
      await connection.workflowService.describeNamespace({ namespace });
      checks.push(['temporal', ok(`${address}, namespace ${namespace}`)]);
    } catch (err) {
      return [['temporal', fail(`${address}: namespace ${namespace}: ${message(err)}`)]];
    }
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = searchAttributeKeys.map((k) => k.name).filter((n) => !(n in (customAttributes ?? {})));
    checks.push([
      'search attributes',
      missing.length === 0
        ? ok(searchAttributeKeys.map((k) => k.name).join(', '))
        : fail(`not registered: ${missing.join(', ')} (temporal operator search-attribute create)`),
    ]);
    for (const [kind, type] of [
      ['workflow', 1],
      ['activity', 2],
    ] as const) {
      const { pollers } = await connection.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: taskQueue },
        taskQueueType: type,
      });
      checks.push([
        `${kind} worker`,
        pollers?.length
          ? ok(`${pollers.length} poller(s) on task queue "${taskQueue}"`)
          : fail(`no worker polls task queue "${taskQueue}" (start one: npm run build && npm run worker)`),
      ]);
    }
    return checks;
  } finally {
    await connection.close();
  }
}

/** GET /models on every replica with the endpoint's key: reachable, and the key (if any) is set and accepted. */
async function checkEndpoint(endpoint: Endpoint, env: NodeJS.ProcessEnv): Promise<Health> {
  const results = await Promise.all(replicaUrls(endpoint).map((url) => checkReplica(url, endpoint, env)));
  return results.find((r) => !r.ok) ?? ok(results.map((r) => r.detail).join(', '));
}

async function checkReplica(baseUrl: string, endpoint: Endpoint, env: NodeJS.ProcessEnv): Promise<Health> {
  const key = endpoint.apiKeyEnv ? readSecret(endpoint.apiKeyEnv, 'apiKey', 'apiKeyEnv', env) : undefined;
  if (endpoint.apiKeyEnv && !key) return fail(`${baseUrl}: ${endpoint.apiKeyEnv} is not set`);
  try {
    const res = await fetch(`${baseUrl.replace(/\/$/, '')}/models`, {
      headers: key ? { Authorization: `Bearer ${key}` } : {},
      signal: AbortSignal.timeout(5000),
    });
    if (res.status === 401 || res.status === 403)
      return fail(`${baseUrl}: HTTP ${res.status}, the key in ${endpoint.apiKeyEnv ?? '(none)'} was refused`);
    return res.ok ? ok(baseUrl) : fail(`${baseUrl}: HTTP ${res.status}`);
  } catch (err) {
    return fail(`${baseUrl}: ${message(err)}`);
  }
}

/** A reward-model server answers at its root (vLLM: /health); any reply but a refused key or a 5xx counts. */
async function checkRoot(endpoint: Endpoint, env: NodeJS.ProcessEnv): Promise<Health> {
  const url = replicaUrls(endpoint)[0]!.replace(/\/$/, '');
  const key = endpoint.apiKeyEnv ? readSecret(endpoint.apiKeyEnv, 'apiKey', 'apiKeyEnv', env) : undefined;
  if (endpoint.apiKeyEnv && !key) return fail(`${url}: ${endpoint.apiKeyEnv} is not set`);
  try {
    const res = await fetch(`${url}/health`, {
      headers: key ? { Authorization: `Bearer ${key}` } : {},
      signal: AbortSignal.timeout(5000),
    });
    if (res.status === 401 || res.status === 403 || res.status >= 500)
      return fail(`${url}: HTTP ${res.status}`);
    return ok(url);
  } catch (err) {
    return fail(`${url}: ${message(err)}`);
  }
}

export async function checkTrainer(trainer: RunConfig['trainer']): Promise<Health> {
  // A remote backend's python lives in the cluster's image, not on this machine: ask the cluster.
  const remote = backendFor(trainer).probe;
  if (remote) {
    try {
      return ok(await remote());
    } catch (err) {
      return fail(message(err));
    }
  }
  if (!existsSync(trainer.python)) return fail(`${trainer.python} does not exist (trainer.python)`);
  try {
    const { stdout } = await run(
      trainer.python,
      ['-c', 'import trl, torch; print(trl.__version__, torch.cuda.is_available())'],
      // trainer.python is a program the config names: it sees what the trainer would, no credential.
      { timeout: 120_000, env: childEnv(process.env) },
    );
    const [version, cuda] = stdout.trim().split(/\s+/);
    if (trainer.device === 'cuda' && cuda !== 'True')
      return fail(`trl ${version}, but torch sees no GPU and trainer.device is cuda (set it to cpu?)`);
    return ok(`${trainer.backend}: trl ${version} on ${trainer.device}, ${trainer.python}`);
  } catch (err) {
    return fail(
      `${trainer.python} cannot import trl/torch: ${message((err as { stderr?: string }).stderr || err)}`,
    );
  }
}

/** Checks what a run of this config needs, one line per part; exits non-zero when one is wrong. */
export async function doctor(
  path: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  say: (line: string) => void = console.log,
): Promise<number> {
  const config = path ? loadConfigFile(path, env) : undefined;
  const settings = stackSettings(env);
  const checks = await checkTemporal(temporalConnection(stackTemporal(settings), env), settings.taskQueue);
  if (config) {
    checks.push(['policy server', await checkEndpoint(config.policy.endpoint, env)]);
    if (config.evaluation.endpoint)
      checks.push(['evaluation server', await checkEndpoint(config.evaluation.endpoint, env)]);
    const { llm, rewardModel } = config.judge;
    if (llm) checks.push(['judge server', await checkEndpoint(llm.endpoint, env)]);
    if (rewardModel) checks.push(['reward model server', await checkRoot(rewardModel.endpoint, env)]);
    checks.push(['trainer', await checkTrainer(config.trainer)]);
    const files: [string, string][] = [...config.prompts, config.evaluation.prompts].flatMap((source) =>
      source.kind === 'file' ? [['prompts', source.path] as [string, string]] : [],
    );
    for (const suite of config.evaluation.suites ?? []) {
      if (suite.kind === 'accuracy') {
        if (suite.prompts.kind === 'file') files.push([`suite ${suite.name}`, suite.prompts.path]);
        continue;
      }
      checks.push([`suite ${suite.name} judge`, await checkEndpoint(suite.judge.endpoint, env)]);
      // The official judge's own files, read as the suite reads them.
      const official =
        suite.kind === 'alpaca-eval'
          ? loadAnnotator(suite.judge.annotator).then((a) =>
              ok(`${a.name} (${suite.judge.annotator ?? defaultAnnotatorConfig()})`),
            )
          : loadJudgeConfig(suite.judge.config).then((c) => ok(`${c.judge_model} (${suite.judge.config})`));
      checks.push([
        `suite ${suite.name} official judge`,
        await official.catch((err: Error) => fail(err.message)),
      ]);
      files.push([`suite ${suite.name}`, suite.prompts]);
      if (suite.kind === 'arena-hard') files.push([`suite ${suite.name}`, suite.baseline]);
      if (suite.kind === 'alpaca-eval' && suite.difficulty)
        files.push([`suite ${suite.name}`, suite.difficulty]);
    }
    for (const [name, file] of files)
      checks.push([name, existsSync(file) ? ok(file) : fail(`${file} not found (seen from here)`)]);
  }
  for (const [name, health] of checks)
    say(`${health.ok ? 'ok  ' : 'FAIL'}  ${name.padEnd(17)} ${health.detail}`);
  if (!config) say('(give a config to check its model servers, judge and trainer too)');
  return checks.every(([, h]) => h.ok) ? 0 : 1;
}
