/**
 * The `evolve` verbs: what each takes, its flags (node's parseArgs options, with a line of help each)
 * and an example. The single source of `evolve --help`, `evolve <verb> --help` and each verb's parsing.
 */
import type { ParseArgsConfig } from 'node:util';
import { EXPORT_FORMATS } from '../storage/benchmarks/exporters.js';

type Flag = NonNullable<ParseArgsConfig['options']>[string] & { help: string; value?: string };

export interface Verb {
  /** The positional arguments, as the usage line shows them. */
  args: string;
  about: string;
  flags: Record<string, Flag>;
  example: string;
}

const none = {} as const;
const onRun = (about: string) => ({ args: '<run>', flags: none, about });
const json = { type: 'boolean', help: 'print JSON instead of tables' } as const;
const iteration = { type: 'string', value: 't', help: 'the iteration (default: the last)' } as const;
const round = { type: 'string', value: 'r', help: 'refinement round (default: the deepest)' } as const;

export const VERBS = {
  up: {
    args: '',
    flags: none,
    about: 'start the embedded stack (Temporal dev server + UI, model server, worker)',
    example: 'npm run evolve -- up',
  },
  down: { args: '', flags: none, about: 'stop the embedded stack', example: 'npm run evolve -- down' },
  status: { args: '', flags: none, about: 'health of each service', example: 'npm run evolve -- status' },
  run: {
    args: '<config>',
    flags: {
      wait: { type: 'boolean', help: 'follow the run to its end and print its summary' },
      json: { type: 'boolean', help: 'print the started ids (with --wait: the result) as JSON' },
      'run-id': {
        type: 'string',
        value: 'ID',
        help: 'the run (and workflow) id, instead of the config runId',
      },
      'resume-from': {
        type: 'string',
        multiple: true,
        value: 'RUN',
        help: "reuse RUN's finished steps whose inputs are unchanged (repeatable)",
      },
    },
    about: 'validate a YAML/JSON config and start a run (workflow id = run id)',
    example: 'npm run evolve -- run deploy/demo/config.yaml --wait',
  },
  config: {
    args: '<config>',
    flags: none,
    about:
      'validate a config and print it as the workflow input JSON (defaults filled), e.g. for `temporal workflow start --input-file`',
    example: 'npm run evolve -- config deploy/demo/config.yaml > input.json',
  },
  list: {
    args: '',
    flags: {
      query: { type: 'string', value: 'Q', help: 'a Temporal list filter, ANDed with the runs filter' },
    },
    about: 'runs (newest first) with Temporal status, EvolveStatus and iteration',
    example: `npm run evolve -- list --query 'EvolveStatus = "paused"'`,
  },
  show: {
    args: '<run>',
    flags: {
      'unapplied-config': {
        type: 'boolean',
        help: 'print the config that the updates a stopped run never applied make',
      },
    },
    about: 'iteration and shard progress bars, pause/stop state, last error',
    example: 'npm run evolve -- show demo-20261207-012345',
  },
  pause: {
    ...onRun('hold the run before its next step (running activities finish)'),
    example: 'npm run evolve -- pause my-run',
  },
  resume: { ...onRun('continue a paused run'), example: 'npm run evolve -- resume my-run' },
  stop: {
    ...onRun('finish the running iteration, then end the run'),
    example: 'npm run evolve -- stop my-run',
  },
  cancel: {
    ...onRun('cancel the run and its running iteration now'),
    example: 'npm run evolve -- cancel my-run',
  },
  report: {
    args: '<run>',
    flags: {
      out: { type: 'string', value: 'DIR', help: 'where to write (default <run dir>/report)' },
      artifacts: {
        type: 'string',
        value: 'ROOT',
        help: 'where run ids are looked up (default $EVOLVE_HOME/artifacts)',
      },
      'ui-url': { type: 'string', value: 'URL', help: 'the Temporal UI the report links to' },
    },
    about:
      "write <run>/report/report.html (charts, metrics, links) from the run's artifacts and print its metrics table; <run> is a run directory or a run id",
    example: 'npm run evolve -- report demo-20261207-012345',
  },
  update: {
    args: '<run> [changes.yaml]',
    flags: {
      set: {
        type: 'string',
        multiple: true,
        value: 'key.path=value',
        help: 'one key to change (repeatable)',
      },
    },
    about: 'change the config of the iterations not yet started',
    example: 'npm run evolve -- update my-run --set training.beta=0.2',
  },
  ui: {
    args: '<run>',
    flags: { open: { type: 'boolean', help: 'open the page in a browser' } },
    about: "the run's UI page and the filter that lists its iterations",
    example: 'npm run evolve -- ui my-run --open',
  },
  doctor: {
    args: '[config]',
    flags: none,
    about: 'check Temporal and the worker, and with a config the model and judge servers and the trainer',
    example: 'npm run evolve -- doctor deploy/demo/config.yaml',
  },
  'codec-server': {
    args: '',
    flags: {
      port: { type: 'string', default: '8081', value: 'PORT', help: 'port to listen on (default 8081)' },
      host: {
        type: 'string',
        default: '127.0.0.1',
        value: 'HOST',
        help: 'address to listen on (default 127.0.0.1)',
      },
      'ui-origin': {
        type: 'string',
        multiple: true,
        value: 'URL',
        help: 'a UI origin allowed by CORS (repeatable)',
      },
      'allow-host': {
        type: 'string',
        multiple: true,
        value: 'H',
        help: 'a Host header to accept (repeatable)',
      },
      'allow-encode': { type: 'boolean', help: 'serve /encode as well as /decode' },
      'no-auth': { type: 'boolean', help: 'no bearer token (local development only)' },
    },
    about:
      'decode EVOLVE_CODEC_KEY-encrypted payloads for the UI and `temporal --codec-endpoint` (requires the bearer token EVOLVE_CODEC_TOKEN; see docs/security.md)',
    example: 'EVOLVE_CODEC_TOKEN=... npm run evolve -- codec-server --port 8081',
  },
  demo: {
    args: '',
    flags: none,
    about: 'up, then run deploy/demo/config.yaml to completion and print the summary',
    example: 'npm run demo',
  },
  experiment: {
    args: 'micro | render <results.json>',
    flags: {
      smoke: { type: 'boolean', default: false, help: 'micro: the short smoke version' },
      split: {
        type: 'string',
        default: 'test',
        value: 'test|dev',
        help: 'micro: the evaluation split (default test)',
      },
      out: { type: 'string', value: 'DIR', help: 'where results.json, results.md and charts/ go' },
      stamp: { type: 'string', value: 'S', help: 'micro: the suffix of the run ids (default: the time)' },
      iterations: {
        type: 'string',
        value: 'N',
        help: "micro: the arms' iterations instead of the configs' (0: stage 0 and pi_1's evaluation only)",
      },
      'reuse-from': {
        type: 'string',
        value: 'S',
        help: "micro: an earlier experiment's stamp: its steps are reused where inputs match, its stage-0 demonstrations taken",
      },
      replicate: {
        type: 'string',
        value: 'R',
        help: 'micro: replicate R (default 0) draws other training problems (so other samples), on the same test problems and stage 0',
      },
    },
    about:
      'micro: up, then the EVOLVE and Iterative DPO arms of deploy/configs/micro side by side; render: rebuild results.md and charts/*.svg from a results.json',
    example: 'npm run evolve -- experiment micro --smoke',
  },
  export: {
    args: '<run>',
    flags: {
      format: { type: 'string', value: EXPORT_FORMATS.join('|'), help: 'the harness (required)' },
      out: { type: 'string', value: 'FILE', help: 'the file to write (required)' },
      iteration,
      round,
      model: { type: 'string', value: 'NAME', help: 'the generator name written into the file' },
    },
    about: "the run's evaluation answers as an official harness's model outputs",
    example: 'npm run evolve -- export my-run --format alpaca-eval --out outputs.json',
  },
  metrics: {
    args: 'alpaca-eval <annotations.json>... | arena-hard <judgment files or dirs>... | gsm8k|math <run>',
    flags: {
      json,
      difficulty: { type: 'string', value: 'CSV', help: 'alpaca-eval: instruction_difficulty.csv (LC)' },
      gamed: { type: 'string', value: 'CSV', help: 'alpaca-eval: df_gamed.csv (LC, --lc-mode v1)' },
      weights: { type: 'string', value: 'CSV', help: 'alpaca-eval: fitted LC weights, with --difficulty' },
      'lc-mode': {
        type: 'string',
        default: 'v1',
        value: 'v1|noreg|unpenalised',
        help: 'alpaca-eval: LC fit',
      },
      baseline: {
        type: 'string',
        default: 'gpt-4-0314',
        value: 'MODEL',
        help: 'arena-hard: the baseline model',
      },
      rounds: { type: 'string', default: '100', value: 'N', help: 'arena-hard: bootstrap rounds' },
      seed: { type: 'string', default: '42', value: 'N', help: 'arena-hard: bootstrap seed' },
      iteration,
      round,
    },
    about:
      "benchmark scores from the official harnesses' judged files, or a run's accuracy per answer extractor",
    example: 'npm run evolve -- metrics gsm8k my-run --json',
  },
} as const satisfies Record<string, Verb>;

export type VerbName = keyof typeof VERBS;

export const isVerb = (word: string): word is VerbName => Object.hasOwn(VERBS, word);

const flagUsage = (name: string, flag: Flag) =>
  `--${name}${flag.type === 'string' ? ` ${flag.value ?? 'VALUE'}` : ''}`;

/** The verb's usage line: `usage: evolve run <config> [--wait] ...`. */
export function usageLine(name: VerbName): string {
  const verb: Verb = VERBS[name];
  const flags = Object.entries(verb.flags).map(
    ([flag, spec]) => `[${flagUsage(flag, spec)}]${spec.multiple ? '...' : ''}`,
  );
  return ['usage: evolve', name, verb.args, ...flags].filter(Boolean).join(' ');
}

/** `evolve <verb> --help`. */
export function verbHelp(name: VerbName): string {
  const verb: Verb = VERBS[name];
  const rows = [
    ...Object.entries(verb.flags).map(([flag, spec]) => [flagUsage(flag, spec), spec.help]),
    ['-h, --help', 'this help'],
  ];
  const width = Math.max(...rows.map(([left]) => left!.length));
  return [
    usageLine(name),
    '',
    verb.about,
    '',
    'options:',
    ...rows.map(([left, right]) => `  ${left!.padEnd(width)}  ${right}`),
    '',
    'example:',
    `  ${verb.example}`,
  ].join('\n');
}

/** A command line refused: what is wrong, then the verb's help. */
export const refusal = (verb: VerbName, problem: string): string =>
  `evolve ${verb}: ${problem}\n\n${verbHelp(verb)}`;

/** `evolve --help`: each verb and what it does. */
const verbList = (): string =>
  Object.entries(VERBS)
    .map(([name, verb]) => `  ${`evolve ${name} ${verb.args}`.trim()}\n      ${verb.about}`)
    .join('\n');

export const OVERVIEW = `evolve: the EVOLVE self-refinement loop on Temporal

${verbList()}

\`evolve <verb> --help\` explains one verb, with an example.

Ports and names come from EVOLVE_TEMPORAL_PORT (7233), EVOLVE_UI_PORT (8233), EVOLVE_MODEL_PORT (8000),
EVOLVE_CODEC_PORT (8081), EVOLVE_TASK_QUEUE (evolve), TEMPORAL_NAMESPACE (default), EVOLVE_HOME (.evolve),
EVOLVE_STATE_DIR (pids, logs, database; EVOLVE_HOME). \`up\` adopts only its own services: a port held by
another process is refused, naming the variable that moves it. EVOLVE_CODEC_KEY (base64,
32 bytes) encrypts payloads; EVOLVE_METRICS_PORT serves worker metrics; EVOLVE_LOG_FORMAT=json logs JSON lines.
TEMPORAL_ADDRESS, TEMPORAL_API_KEY and TEMPORAL_TLS_* point the CLI and the worker at another Temporal (docs/deploy.md).`;
