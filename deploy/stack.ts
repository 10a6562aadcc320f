import { Connection } from '@temporalio/client';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
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
export type Service = (typeof ALL_SERVICES)[number];
/** In start order; the codec server only with encrypted payloads, before the UI that decodes through it. */
const servicesOf = (s: StackSettings): Service[] => [
  ...(s.runsCodec ? (['codec'] as const) : []),
  'temporal',
  'model',
  'worker',
];

/** The ports a service listens on, each with the variable that moves it. */
function portsOf(s: StackSettings, name: Service): { port: number; variable: string }[] {
  switch (name) {
    case 'codec':
      return [{ port: s.codecPort, variable: 'EVOLVE_CODEC_PORT' }];
    case 'temporal':
      return [
        { port: s.temporalPort, variable: 'EVOLVE_TEMPORAL_PORT' },
        { port: s.uiPort, variable: 'EVOLVE_UI_PORT' },
      ];
    case 'model':
      return [{ port: s.modelPort, variable: 'EVOLVE_MODEL_PORT' }];
    case 'worker':
      return [];
  }
}

/**
 * `transformers serve` on CPU. With `continuousBatching` it batches concurrent requests (several times the
 * throughput), but it keeps one batch manager per server, for one model, whose sampling settings are
 * those of that model's first request: such a server suits one model and one temperature at a time.
 */
export function modelServerCommand(s: StackSettings, port: number, continuousBatching = false) {
  return {
    cmd: join(s.home, 'venv', 'bin', 'transformers'),
    args: [
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--device',
      'cpu',
      // Unbounded, its paged KV cache takes over half the machine's memory (13 GB of 24 on CPU): 384
      // blocks of 32 tokens hold 32 requests of 384 tokens, about 0.6 GB for SmolLM2-135M.
      ...(continuousBatching
        ? ['--continuous-batching', '--cb-block-size', '32', '--cb-num-blocks', '384']
        : []),
    ],
    // One OpenMP thread: with more, its spinning threads fight the trainer and the worker for the
    // cores, and CPU generation gets several times slower (measured on 2 cores).
    env: {
      ...childEnv(process.env),
      HF_HUB_OFFLINE: '1',
      TRANSFORMERS_OFFLINE: '1',
      OMP_NUM_THREADS: process.env.EVOLVE_MODEL_THREADS ?? '1',
    },
  };
}

const pidFile = (s: StackSettings, name: Service) => join(s.stateDir, 'run', `${name}.pid`);
const logPath = (s: StackSettings, name: Service) => join(s.stateDir, 'logs', `${name}.log`);

/**
 * How a service is launched: `runtime` (node's flags) may differ between two `evolve up`s; `cmd` and
 * `args` are what identifies the service's process later.
 */
function commandFor(
  s: StackSettings,
  name: Service,
): { cmd: string; runtime?: string[]; args: string[]; env: NodeJS.ProcessEnv } {
  const bin = (tool: string) => join(s.home, 'venv', 'bin', tool);
  switch (name) {
    case 'codec':
      // The key and token reach it through the environment, never through its command line or pid file.
      return {
        cmd: process.execPath,
        runtime: ['--import', 'tsx'],
        args: ['client/cli.ts', 'codec-server', '--port', String(s.codecPort)],
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
      return modelServerCommand(s, s.modelPort);
    case 'worker':
      return {
        cmd: process.execPath,
        runtime: [...workerHeapFlags(), '--import', 'tsx'],
        args: ['workers/main.ts'],
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

/** A process's argument vector (Linux /proc); null where it cannot be read. */
function argvOf(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return null;
  }
}

/**
 * The pid in the service's pid file when that process is alive and runs the service's command (a pid
 * reused since by another program is not the service). Without /proc a live pid is taken on trust.
 */
export function ownPid(s: StackSettings, name: Service): number | null {
  const pid = readPid(s, name);
  if (!alive(pid)) return null;
  const argv = argvOf(pid);
  if (argv === null) return pid;
  const { cmd, args } = commandFor(s, name);
  const tail = argv.slice(-args.length);
  return argv.includes(cmd) && tail.length === args.length && tail.every((a, i) => a === args[i])
    ? pid
    : null;
}

/** Inodes of the sockets listening on TCP `port` (Linux /proc); null where /proc cannot tell. */
function listenerInodes(port: number): Set<string> | null {
  const inodes = new Set<string>();
  let readable = false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue; // no IPv6
    }
    readable = true;
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st ... inode: the local port is hex, state 0A is LISTEN.
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && parseInt(f[1]!.split(':')[1]!, 16) === port) inodes.add(f[9]!);
    }
  }
  return readable ? inodes : null;
}

/** Whether a process of `pid`'s process group listens on `port`; null where /proc cannot tell. */
function groupListensOn(pid: number, port: number): boolean | null {
  const inodes = listenerInodes(port);
  if (inodes === null) return null;
  if (inodes.size === 0) return false;
  for (const member of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${member}/stat`, 'utf8');
      // The group is the third field after the command name, which may hold spaces.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== pid) continue;
      for (const fd of readdirSync(`/proc/${member}/fd`)) {
        const target = readlinkSync(`/proc/${member}/fd/${fd}`);
        if (inodes.has(target.match(/^socket:\[(\d+)\]$/)?.[1] ?? '')) return true;
      }
    } catch {
      /* gone, or not ours to read */
    }
  }
  return false;
}

/** Whether something listens on `port` (loopback, where the stack binds). */
const portTaken = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(true));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
  });

/**
 * Refuses a port of the service held by anything but the service's own process (`pid`, from
 * ownPid): a stranger is never adopted, even one that answers like the service.
 */
async function refuseStrangers(s: StackSettings, name: Service, pid: number | null): Promise<void> {
  for (const [i, { port, variable }] of portsOf(s, name).entries()) {
    if (pid !== null && groupListensOn(pid, port) !== false) continue;
    if (!(await portTaken(port))) continue;
    const recorded = readPid(s, name);
    const why =
      recorded === null
        ? `no ${pidFile(s, name)}`
        : pid === null
          ? `${pidFile(s, name)} names pid ${recorded}, which is not a running ${name} service`
          : `its pid ${pid} does not listen there`;
    const answers = i === 0 && (await checks[name](s)).ok ? `; it answers like a ${name} server` : '';
    throw new Error(
      `${name}: port ${port} is in use by a process that is not this stack's (${why}${answers}). ` +
        `evolve does not adopt it: stop that process, or move the stack with ${variable}=<free port>.`,
    );
  }
}

/** Starts one service detached (own process group, log file), unless its own process still runs. */
export function startService(s: StackSettings, name: Service): number {
  const existing = ownPid(s, name);
  if (existing !== null) return existing;
  mkdirSync(join(s.stateDir, 'run'), { recursive: true });
  mkdirSync(join(s.stateDir, 'logs'), { recursive: true });
  const { cmd, runtime = [], args, env } = commandFor(s, name);
  if (name !== 'worker' && !existsSync(cmd)) {
    throw new Error(`${cmd} is missing: run \`npm run bootstrap\` first`);
  }
  const log = openSync(logPath(s, name), 'a', 0o600);
  const child = spawn(cmd, [...runtime, ...args], {
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
  return stopPid(ownPid(s, name), () => rmSync(pidFile(s, name), { force: true }));
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
  const pid = ownPid(s, 'worker');
  if (pid === null) return { ok: false, detail: 'not running' };
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

/** A service's health, where an answer on its port counts only from the service's own process. */
async function ownHealth(s: StackSettings, name: Service): Promise<Health> {
  const health = await checks[name](s);
  const [main] = portsOf(s, name);
  const pid = ownPid(s, name);
  if (!health.ok || !main || (pid !== null && groupListensOn(pid, main.port) !== false)) return health;
  return {
    ok: false,
    detail: `port ${main.port} is answered by a process that is not this stack's (move the stack with ${main.variable})`,
  };
}

export async function stackStatus(s: StackSettings): Promise<Partial<Record<Service, Health>>> {
  const entries = await Promise.all(
    servicesOf(s).map(async (name) => [name, await ownHealth(s, name)] as const),
  );
  return Object.fromEntries(entries);
}

/** Brings each service up in order and waits until it is healthy; names the one that failed, with its log. */
export async function stackUp(
  s: StackSettings,
  say: (line: string) => void,
  timeoutMs = 180_000,
  services: Service[] = servicesOf(s),
): Promise<void> {
  for (const name of services) {
    const own = ownPid(s, name);
    await refuseStrangers(s, name, own);
    const before = own === null ? null : await checks[name](s);
    if (before?.ok) {
      say(`${name}: already up (pid ${own}, ${before.detail})`);
      continue;
    }
    const pid = startService(s, name);
    say(`${name}: ${own === null ? 'starting' : 'still starting'} (pid ${pid}, log ${logPath(s, name)})`);
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
