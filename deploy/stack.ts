import { Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { childEnv } from '../core/secrets.js';
import { searchAttributeFlags } from '../core/search-attributes.js';
import { workerHeapFlags } from '../workers/heap.js';

/** The embedded stack: a Temporal dev server, `transformers serve` and an evolve worker, all under .evolve/. */
export interface StackSettings {
  /** Where bootstrap installed the venv and the base model. */
  home: string;
  /** Where the services keep pid files, logs and the Temporal database (tests use their own). */
  stateDir: string;
  temporalPort: number;
  uiPort: number;
  modelPort: number;
  namespace: string;
  taskQueue: string;
  /** A codec server the UI decodes payloads with (`evolve codec-server`), when payloads are encrypted. */
  codecEndpoint?: string;
  /** EVOLVE_CODEC_KEY is set and no EVOLVE_CODEC_ENDPOINT given: the stack runs the codec server itself. */
  runsCodec: boolean;
  codecPort: number;
}

export function stackSettings(env: NodeJS.ProcessEnv = process.env): StackSettings {
  const port = (name: string, fallback: number) => {
    const value = env[name];
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      throw new Error(`${name}=${value}: expected a port number 1-65535`);
    return n;
  };
  const codecPort = port('EVOLVE_CODEC_PORT', 8081);
  const runsCodec = Boolean(env.EVOLVE_CODEC_KEY) && !env.EVOLVE_CODEC_ENDPOINT;
  const codecEndpoint =
    env.EVOLVE_CODEC_ENDPOINT ?? (runsCodec ? `http://127.0.0.1:${codecPort}` : undefined);
  return {
    home: resolve(env.EVOLVE_HOME ?? '.evolve'),
    stateDir: resolve(env.EVOLVE_STATE_DIR ?? env.EVOLVE_HOME ?? '.evolve'),
    temporalPort: port('EVOLVE_TEMPORAL_PORT', 7233),
    uiPort: port('EVOLVE_UI_PORT', 8233),
    modelPort: port('EVOLVE_MODEL_PORT', 8000),
    namespace: env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env.EVOLVE_TASK_QUEUE ?? 'evolve',
    ...(codecEndpoint ? { codecEndpoint } : {}),
    runsCodec,
    codecPort,
  };
}

export const temporalAddress = (s: StackSettings) => `127.0.0.1:${s.temporalPort}`;
export const uiUrl = (s: StackSettings) => `http://127.0.0.1:${s.uiPort}`;
export const modelBaseUrl = (s: StackSettings) => `http://127.0.0.1:${s.modelPort}/v1`;
export const workflowUrl = (s: StackSettings, workflowId: string, ui = uiUrl(s)) =>
  `${ui.replace(/\/+$/, '')}/namespaces/${s.namespace}/workflows/${encodeURIComponent(workflowId)}`;

const ALL_SERVICES = ['codec', 'temporal', 'model', 'worker'] as const;
type Service = (typeof ALL_SERVICES)[number];
/** In start order; the codec server only with encrypted payloads, before the UI that decodes through it. */
const servicesOf = (s: StackSettings): Service[] => [
  ...(s.runsCodec ? (['codec'] as const) : []),
  'temporal',
  'model',
  'worker',
];

const pidFile = (s: StackSettings, name: Service) => join(s.stateDir, 'run', `${name}.pid`);
const logPath = (s: StackSettings, name: Service) => join(s.stateDir, 'logs', `${name}.log`);

function commandFor(
  s: StackSettings,
  name: Service,
): { cmd: string; args: string[]; env: NodeJS.ProcessEnv } {
  const bin = (tool: string) => join(s.home, 'venv', 'bin', tool);
  switch (name) {
    case 'codec':
      // The key and token reach it through the environment, never through its command line or pid file.
      return {
        cmd: process.execPath,
        args: ['--import', 'tsx', 'client/cli.ts', 'codec-server', '--port', String(s.codecPort)],
        env: { ...process.env, EVOLVE_CODEC_TOKEN: codecToken(s) },
      };
    case 'temporal':
      return {
        cmd: bin('temporal'),
        args: [
          'server',
          'start-dev',
          '--ip',
          '127.0.0.1',
          '--port',
          String(s.temporalPort),
          '--ui-port',
          String(s.uiPort),
          '--namespace',
          s.namespace,
          '--db-filename',
          join(s.stateDir, 'temporal.db'),
          '--log-level',
          'warn',
          ...searchAttributeFlags.flatMap((flag) => ['--search-attribute', flag]),
          ...(s.codecEndpoint ? ['--ui-codec-endpoint', s.codecEndpoint] : []),
        ],
        env: childEnv(process.env),
      };
    case 'model':
      return {
        cmd: bin('transformers'),
        args: ['serve', '--host', '127.0.0.1', '--port', String(s.modelPort), '--device', 'cpu'],
        // One OpenMP thread: with more, its spinning threads fight the trainer and the worker for the
        // cores, and CPU generation gets several times slower (measured on 2 cores).
        env: {
          ...childEnv(process.env),
          HF_HUB_OFFLINE: '1',
          TRANSFORMERS_OFFLINE: '1',
          OMP_NUM_THREADS: process.env.EVOLVE_MODEL_THREADS ?? '1',
        },
      };
    case 'worker':
      return {
        cmd: process.execPath,
        args: [...workerHeapFlags(), '--import', 'tsx', 'workers/main.ts'],
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: temporalAddress(s),
          TEMPORAL_NAMESPACE: s.namespace,
          EVOLVE_TASK_QUEUE: s.taskQueue,
        },
      };
  }
}

export function readPid(s: StackSettings, name: Service): number | null {
  if (!existsSync(pidFile(s, name))) return null;
  const pid = Number(readFileSync(pidFile(s, name), 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function alive(pid: number | null): pid is number {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts one service detached (own process group, log file), unless its recorded pid still runs. */
export function startService(s: StackSettings, name: Service): number {
  const existing = readPid(s, name);
  if (alive(existing)) return existing;
  mkdirSync(join(s.stateDir, 'run'), { recursive: true });
  mkdirSync(join(s.stateDir, 'logs'), { recursive: true });
  const { cmd, args, env } = commandFor(s, name);
  if (name !== 'worker' && !existsSync(cmd)) {
    throw new Error(`${cmd} is missing: run \`npm run bootstrap\` first`);
  }
  const log = openSync(logPath(s, name), 'a', 0o600);
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['ignore', log, log],
    // Each service gets its own environment: only the codec server and the worker see the codec key.
    env,
  });
  child.unref();
  writeFileSync(pidFile(s, name), String(child.pid));
  return child.pid!;
}

export function stopService(s: StackSettings, name: Service): Promise<boolean> {
  return stopPid(readPid(s, name), () => rmSync(pidFile(s, name), { force: true }));
}

async function stopPid(pid: number | null, cleanup: () => void): Promise<boolean> {
  if (!alive(pid)) {
    cleanup();
    return false;
  }
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* gone */
    }
  };
  signal('SIGTERM');
  for (let i = 0; i < 40 && alive(pid); i++) await sleep(250);
  signal('SIGKILL');
  cleanup();
  return true;
}

export type Health = { ok: true; detail: string } | { ok: false; detail: string };

export async function checkTemporal(s: StackSettings): Promise<Health> {
  try {
    const connection = await Connection.connect({ address: temporalAddress(s), connectTimeout: 2000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return { ok: true, detail: `${temporalAddress(s)}, UI ${uiUrl(s)}` };
    } finally {
      await connection.close();
    }
  } catch (err) {
    return { ok: false, detail: `${temporalAddress(s)}: ${(err as Error).message}` };
  }
}

export async function checkModel(s: StackSettings): Promise<Health> {
  try {
    const res = await fetch(`${modelBaseUrl(s)}/models`, { signal: AbortSignal.timeout(5000) });
    return res.ok
      ? { ok: true, detail: modelBaseUrl(s) }
      : { ok: false, detail: `${modelBaseUrl(s)}: HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, detail: `${modelBaseUrl(s)}: ${(err as Error).message}` };
  }
}

/**
 * The bearer token of the stack's codec server: EVOLVE_CODEC_TOKEN, else one generated on first use and
 * kept in <stateDir>/run/codec.token (0600), so that `evolve status` and a restarted stack agree.
 */
export function codecToken(s: StackSettings, env: NodeJS.ProcessEnv = process.env): string {
  if (env.EVOLVE_CODEC_TOKEN) return env.EVOLVE_CODEC_TOKEN;
  const path = join(s.stateDir, 'run', 'codec.token');
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return token;
}

/** The link that lets a browser's UI decode: one visit sets the codec server's cookie. */
export const codecLoginUrl = (s: StackSettings) =>
  `${s.codecEndpoint}/login?token=${encodeURIComponent(codecToken(s))}`;

export async function checkCodec(s: StackSettings): Promise<Health> {
  const url = `${s.codecEndpoint}/decode`;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${codecToken(s)}` },
      body: '{"payloads": []}',
      signal: AbortSignal.timeout(5000),
    });
    return res.ok
      ? { ok: true, detail: s.codecEndpoint! }
      : { ok: false, detail: `${url}: HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, detail: `${url}: ${(err as Error).message}` };
  }
}

export async function checkWorker(s: StackSettings): Promise<Health> {
  const pid = readPid(s, 'worker');
  if (!alive(pid)) return { ok: false, detail: 'not running' };
  const log = existsSync(logPath(s, 'worker')) ? readFileSync(logPath(s, 'worker'), 'utf8') : '';
  return log.includes('evolve worker: task queue')
    ? { ok: true, detail: `pid ${pid}, task queue "${s.taskQueue}"` }
    : { ok: false, detail: `pid ${pid}, still starting` };
}

const checks: Record<Service, (s: StackSettings) => Promise<Health>> = {
  codec: checkCodec,
  temporal: checkTemporal,
  model: checkModel,
  worker: checkWorker,
};

export async function stackStatus(s: StackSettings): Promise<Partial<Record<Service, Health>>> {
  const entries = await Promise.all(
    servicesOf(s).map(async (name) => [name, await checks[name](s)] as const),
  );
  return Object.fromEntries(entries);
}

/** Brings each service up in order and waits until it is healthy; names the one that failed, with its log. */
export async function stackUp(
  s: StackSettings,
  say: (line: string) => void,
  timeoutMs = 180_000,
): Promise<void> {
  for (const name of servicesOf(s)) {
    const before = await checks[name](s);
    if (before.ok) {
      say(`${name}: already up (${before.detail})`);
      continue;
    }
    const pid = startService(s, name);
    say(`${name}: starting (pid ${pid}, log ${logPath(s, name)})`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const health = await checks[name](s);
      if (health.ok) {
        say(`${name}: up (${health.detail})`);
        break;
      }
      if (!alive(pid) || Date.now() > deadline) {
        const tail = existsSync(logPath(s, name))
          ? readFileSync(logPath(s, name), 'utf8').trimEnd().split('\n').slice(-15).join('\n')
          : '';
        throw new Error(`${name} did not become healthy (${health.detail}); last log lines:\n${tail}`);
      }
      await sleep(500);
    }
  }
}

export async function stackDown(s: StackSettings, say: (line: string) => void): Promise<void> {
  const configured = servicesOf(s);
  // A codec server started under another environment is stopped too.
  for (const name of [...ALL_SERVICES].reverse()) {
    const stopped = await stopService(s, name);
    if (stopped || configured.includes(name)) say(`${name}: ${stopped ? 'stopped' : 'was not running'}`);
  }
}
