import {
  type Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkPromptPools } from '../storage/prompt-pools.js';
import { codecsFromEnv } from '../codec/encryption.js';
import { createCodecServer } from '../codec/server.js';
import { ConfigError, RunIdSchema, type RunConfig } from '../core/config.js';
import {
  codecLoginUrl,
  modelBaseUrl,
  stackDown,
  stackSettings,
  stackStatus,
  stackUp,
  type StackSettings,
  temporalAddress,
  uiUrl,
  workflowUrl,
} from '../deploy/stack.js';
import {
  pauseSignal,
  resumeSignal,
  stopAfterIterationSignal,
  updateConfigUpdate,
} from '../workflows/control.js';
import { loadConfigFile, loadPatchFile, setPath } from './config-file.js';
import { doctor } from './doctor.js';
import { exportCommand, runDirectory } from './export.js';
import {
  markdownTable,
  parseExperimentArgs,
  readExperimentResults,
  renderExperiment,
  runExperiment,
} from './experiment.js';
import { formatTable, listRuns, runQuery, showRun, unappliedOf } from './inspect.js';
import { metricsCommand } from './metrics.js';
import { rootCause } from './errors.js';
import { temporalConnection } from './temporal-connection.js';
import { connectClient, onModelServer, startRun, summaryTable, watchRun } from './run.js';

const USAGE = `evolve: the EVOLVE self-refinement loop on Temporal

  evolve up                      start the embedded stack (Temporal dev server + UI, model server, worker)
  evolve down                    stop it
  evolve status                  health of each service
  evolve run <config> [--wait] [--json] [--run-id ID] [--resume-from RUN]...
                                 validate a YAML/JSON config and start a run (workflow id = run id);
                                 --resume-from reuses RUN's finished steps whose inputs are unchanged
  evolve config <config>         validate a config and print it as the workflow input JSON (defaults filled),
                                 e.g. for \`temporal workflow start --input-file\`
  evolve list [--query Q]        runs (newest first) with Temporal status, EvolveStatus and iteration
  evolve show <run> [--unapplied-config]
                                 iteration and shard progress bars, pause/stop state, last error;
                                 --unapplied-config: the config of updates a stopped run never applied
  evolve pause <run>             hold the run before its next step (running activities finish)
  evolve resume <run>            continue a paused run
  evolve stop <run>              finish the running iteration, then end the run
  evolve report <run> [--out DIR] [--artifacts ROOT] [--ui-url URL]
                                 write <run>/report/report.html (charts, metrics, links) from the run's
                                 artifacts (<run> = a run directory or a run id under ROOT, default
                                 $EVOLVE_HOME/artifacts) and print its metrics table
  evolve cancel <run>            cancel the run and its running iteration now
  evolve update <run> [changes.yaml] [--set key.path=value ...]
                                 change the config of the iterations not yet started
  evolve ui <run> [--open]       the run's UI page and the filter that lists its iterations
  evolve doctor <config>         check Temporal, the worker, the model and judge servers and the trainer
  evolve codec-server [--port 8081] [--host 127.0.0.1] [--ui-origin URL] [--allow-host H] [--allow-encode] [--no-auth]
                                 decode EVOLVE_CODEC_KEY-encrypted payloads for the UI and \`temporal --codec-endpoint\`
                                 (requires the bearer token EVOLVE_CODEC_TOKEN; see docs/security.md)
  evolve demo                    up, then run deploy/demo/config.yaml to completion and print the summary
  evolve experiment micro [--smoke] [--split test|dev] [--out DIR] [--stamp S]
                                 up, then the micro-reproduction: EVOLVE and Iterative DPO arms of
                                 deploy/configs/micro side by side; writes results.json, results.md and charts/
  evolve experiment render <results.json> [--out DIR]
                                 rebuild results.md and charts/*.svg from a results.json
  evolve export <run> --format alpaca-eval|arena-hard --out <file> [--iteration t] [--round r]
                                 the run's evaluation answers as an official harness's model outputs
  evolve metrics alpaca-eval <annotations.json>... [--difficulty csv] [--json]
  evolve metrics arena-hard <judgment files or dirs>... [--baseline gpt-4-0314] [--json]
                                 benchmark scores from the official harnesses' judged files
  evolve metrics gsm8k|math <run> [--iteration t] [--round r] [--json]
                                 a run's evaluation accuracy, per answer extractor

Ports and names come from EVOLVE_TEMPORAL_PORT (7233), EVOLVE_UI_PORT (8233), EVOLVE_MODEL_PORT (8000),
EVOLVE_CODEC_PORT (8081), EVOLVE_TASK_QUEUE (evolve), TEMPORAL_NAMESPACE (default), EVOLVE_HOME (.evolve),
EVOLVE_STATE_DIR (pids, logs, database; EVOLVE_HOME). \`up\` adopts only its own services: a port held by
another process is refused, naming the variable that moves it. EVOLVE_CODEC_KEY (base64,
32 bytes) encrypts payloads; EVOLVE_METRICS_PORT serves worker metrics; EVOLVE_LOG_FORMAT=json logs JSON lines.
TEMPORAL_ADDRESS, TEMPORAL_API_KEY and TEMPORAL_TLS_* point the CLI and the worker at another Temporal (docs/deploy.md).`;

const say = (line: string) => console.log(line);

async function run(argv: string[], options: { demo: boolean }): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      wait: { type: 'boolean' },
      json: { type: 'boolean' },
      'run-id': { type: 'string' },
      'resume-from': { type: 'string', multiple: true },
    },
  });
  const path = positionals[0];
  if (!path) throw new ConfigError('usage: evolve run <config.yaml|json> [--wait] [--json] [--run-id ID]');
  const settings = stackSettings();
  const loaded = loadConfigFile(path);
  const resumeFrom = values['resume-from'] ?? [];
  for (const [flag, id] of [
    ['--run-id', values['run-id']],
    ...resumeFrom.map((r) => ['--resume-from', r]),
  ] as const) {
    const problem = id === undefined ? undefined : RunIdSchema.safeParse(id).error?.issues[0]?.message;
    if (problem) throw new ConfigError(`${flag} ${id}: ${problem}`);
  }
  let config: RunConfig = {
    ...loaded,
    runId: values['run-id'] ?? loaded.runId,
    ...(resumeFrom.length > 0 && { reuseFrom: [...(loaded.reuseFrom ?? []), ...resumeFrom] }),
  };
  if (config.reuseFrom?.includes(config.runId))
    throw new ConfigError(`--resume-from ${config.runId}: the new run needs its own id: pass --run-id`);
  await checkPromptPools(config, path);
  // The demo talks to the embedded model server wherever EVOLVE_MODEL_PORT put it.
  if (options.demo) config = onModelServer(config, modelBaseUrl(settings));
  const client = await connectClient(temporalConnection(temporalAddress(settings)), settings.namespace);
  try {
    // A stopped run may hold updates it never applied: offer them rather than lose them silently.
    for (const id of resumeFrom) {
      const unapplied = await unappliedOf(client, id);
      if (unapplied)
        console.error(
          `note: ${id} accepted config changes it never applied (${unapplied.changes.join(', ')}); ` +
            `\`evolve show ${id} --unapplied-config > next.json\` writes the config they make, to run instead of ${path}`,
        );
    }
    const handle = await startRun(client, config, settings.taskQueue);
    if (!values.json) {
      say(`started run ${config.runId} on task queue "${settings.taskQueue}"`);
      say(`Temporal UI: ${workflowUrl(settings, handle.workflowId)}`);
    }
    if (!values.wait && !options.demo) {
      if (values.json)
        say(JSON.stringify({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId }));
      return 0;
    }
    const result = await watchRun(client, handle, config.iterations, values.json ? () => undefined : say);
    if (values.json) say(JSON.stringify(result, null, 2));
    else {
      say('');
      say(summaryTable(result));
      say('');
      say(`Temporal UI: ${workflowUrl(settings, handle.workflowId)}`);
    }
    return 0;
  } finally {
    await client.connection.close();
  }
}

const signals = { pause: pauseSignal, resume: resumeSignal, stop: stopAfterIterationSignal } as const;

async function withClient<T>(fn: (client: Client, settings: StackSettings) => Promise<T>): Promise<T> {
  const settings = stackSettings();
  const client = await connectClient(temporalConnection(temporalAddress(settings)), settings.namespace);
  try {
    return await fn(client, settings);
  } finally {
    await client.connection.close();
  }
}

async function report(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { out: { type: 'string' }, artifacts: { type: 'string' }, 'ui-url': { type: 'string' } },
  });
  const run = positionals[0];
  if (!run)
    throw new ConfigError(
      'usage: evolve report <run id|run dir> [--out DIR] [--artifacts ROOT] [--ui-url URL]',
    );
  const settings = stackSettings();
  // Loaded on demand: the charting library is only needed here.
  const { writeReport } = await import('../report/index.js');
  const runDir = runDirectory(run, values.artifacts);
  const written = await writeReport({
    runDir,
    outDir: values.out ?? join(runDir, 'report'),
    workflowUrl: (runId) => workflowUrl(settings, runId, values['ui-url']),
  });
  say(written.table);
  say('');
  say(`report: ${written.html} (${written.charts.length} charts)`);
  return 0;
}

const requireRun = (verb: string, workflowId: string | undefined): string => {
  if (!workflowId) throw new ConfigError(`usage: evolve ${verb} <run id>`);
  return workflowId;
};

/** pause, resume and stop are signals to the run; cancel cancels it (and its running iteration). */
async function control(verb: keyof typeof signals | 'cancel' | 'show', workflowId: string): Promise<number> {
  return withClient(async (client, settings) => {
    const handle = client.workflow.getHandle(workflowId);
    if (verb === 'cancel') await handle.cancel();
    else if (verb !== 'show') await handle.signal(signals[verb]);
    if (verb !== 'show') say(`${verb} sent to ${workflowId}`);
    for (const line of await showRun(client, workflowId)) say(line);
    say(`  ${workflowUrl(settings, workflowId)}`);
    return 0;
  });
}

/** `evolve show <run> --unapplied-config`: the config a finished run's never-applied updates make. */
async function unappliedConfig(workflowId: string): Promise<number> {
  return withClient(async (client) => {
    const unapplied = await unappliedOf(client, workflowId);
    if (!unapplied)
      throw new ConfigError(
        `${workflowId} has no config changes it accepted and never applied (or has not ended)`,
      );
    say(JSON.stringify(unapplied.config, null, 2));
    return 0;
  });
}

/** `evolve update <run> [patch.yaml] [--set key.path=value ...]`: the keys to change, merged in order. */
async function update(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { set: { type: 'string', multiple: true } },
  });
  const [workflowId, file] = positionals;
  if (!workflowId || (!file && !values.set?.length)) {
    throw new ConfigError('usage: evolve update <run id> [changes.yaml] [--set key.path=value ...]');
  }
  const patch = file ? loadPatchFile(file) : {};
  for (const assignment of values.set ?? []) setPath(patch, assignment);
  return withClient(async (client) => {
    try {
      const result = await client.workflow.getHandle(workflowId).executeUpdate(updateConfigUpdate, {
        args: [patch],
      });
      say(
        result.changed.length
          ? `${workflowId}: ${result.changed.join(', ')} changed from iteration ${result.appliesFromIteration} on`
          : `${workflowId}: nothing changed`,
      );
      return 0;
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw new ConfigError(rootCause(err).message);
      throw err;
    }
  });
}

async function list(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { query: { type: 'string' } } });
  return withClient(async (client) => {
    const rows = await listRuns(client, values.query);
    say(rows.length ? formatTable(rows as unknown as Record<string, string>[]) : 'no runs');
    return 0;
  });
}

/** Prints the run's UI page and the filter that lists its iterations; `--open` opens it in a browser. */
function ui(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { open: { type: 'boolean' } },
  });
  const workflowId = requireRun('ui', positionals[0]);
  const settings = stackSettings();
  const page = workflowUrl(settings, workflowId);
  say(page);
  say(
    `${uiUrl(settings)}/namespaces/${settings.namespace}/workflows?query=${encodeURIComponent(runQuery(workflowId))}`,
  );
  if (values.open) {
    const opener =
      process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'start' : 'xdg-open';
    spawn(opener, [page], { detached: true, stdio: 'ignore' })
      .on('error', () => say(`(could not run ${opener}: open the link by hand)`))
      .unref();
  }
  return 0;
}

async function codecServer(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '8081' },
      host: { type: 'string', default: '127.0.0.1' },
      'ui-origin': { type: 'string', multiple: true },
      'allow-host': { type: 'string', multiple: true },
      'allow-encode': { type: 'boolean' },
      'no-auth': { type: 'boolean' },
    },
  });
  const codecs = codecsFromEnv();
  if (codecs.length === 0) throw new ConfigError('EVOLVE_CODEC_KEY is not set: there is nothing to decode');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`--port ${values.port}: expected a port`);
  const token = process.env.EVOLVE_CODEC_TOKEN || null;
  if (!token && !values['no-auth'])
    throw new ConfigError(
      'EVOLVE_CODEC_TOKEN is not set: whoever can call /decode reads every payload (--no-auth for local development only)',
    );
  const origins = values['ui-origin'] ?? [uiUrl(stackSettings())];
  const server = createCodecServer(codecs, {
    uiOrigins: origins,
    token,
    encode: values['allow-encode'] ?? false,
    hosts: values['allow-host'] ?? [],
  });
  await new Promise<void>((resolve) => server.listen(port, values.host, resolve));
  const where = `http://${values.host}:${(server.address() as AddressInfo).port}`;
  say(
    `codec server on ${where} (CORS for ${origins.join(', ')}; ${token ? 'bearer token required' : 'NO authentication'}; /encode ${values['allow-encode'] ? 'on' : 'off'})`,
  );
  await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
  server.close();
  return 0;
}

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  const settings = stackSettings();
  switch (command) {
    case 'up':
      await stackUp(settings, say);
      say(`Temporal UI: ${uiUrl(settings)}`);
      if (settings.runsCodec)
        say(`Codec login (once per browser, before the UI decodes): ${codecLoginUrl(settings)}`);
      return 0;
    case 'down':
      await stackDown(settings, say);
      return 0;
    case 'status': {
      const status = await stackStatus(settings);
      for (const [name, health] of Object.entries(status))
        say(`${name.padEnd(9)} ${health.ok ? 'up  ' : 'DOWN'} ${health.detail}`);
      return Object.values(status).every((h) => h.ok) ? 0 : 1;
    }
    case 'run':
      return run(rest, { demo: false });
    case 'show':
      if (rest[1] === '--unapplied-config') return unappliedConfig(requireRun(command, rest[0]));
      return control(command, requireRun(command, rest[0]));
    case 'pause':
    case 'resume':
    case 'stop':
    case 'cancel':
      return control(command, requireRun(command, rest[0]));
    case 'update':
      return update(rest);
    case 'list':
      return list(rest);
    case 'ui':
      return ui(rest);
    case 'doctor':
      return doctor(rest[0]);
    case 'codec-server':
      return codecServer(rest);
    case 'report':
      return report(rest);
    case 'config': {
      if (!rest[0]) throw new ConfigError('usage: evolve config <config.yaml|json>');
      const config = loadConfigFile(rest[0]);
      await checkPromptPools(config, rest[0], (line) => console.error(`note: ${line}`));
      say(JSON.stringify(config, null, 2));
      return 0;
    }
    case 'export':
      return exportCommand(rest, say);
    case 'experiment': {
      if (rest[0] === 'render') {
        const [file, ...more] = rest.slice(1);
        const { values } = parseArgs({ args: more, options: { out: { type: 'string' } } });
        if (!file) throw new ConfigError('usage: evolve experiment render <results.json> [--out DIR]');
        const written = await renderExperiment(readExperimentResults(file), values.out ?? dirname(file));
        for (const path of written) say(`wrote ${path}`);
        return 0;
      }
      const options = parseExperimentArgs(rest);
      await stackUp(settings, say);
      const results = await withClient((client) => runExperiment(client, settings, options, say));
      say('');
      say(markdownTable(results.arms));
      say('');
      say(`${results.wallSeconds.toFixed(0)} s; results in ${options.outDir}/results.json and results.md`);
      return 0;
    }
    case 'metrics':
      return metricsCommand(rest, say);
    case 'demo': {
      await stackUp(settings, say);
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
      const runId = `demo-${stamp}`.toLowerCase();
      const code = await run(['deploy/demo/config.yaml', '--run-id', runId, ...rest], { demo: true });
      say(`HTML report with charts: npm run evolve -- report ${runId}`);
      say('The stack is still up: open the UI link above; `npm run evolve -- down` stops it.');
      return code;
    }
    default:
      say(USAGE);
      return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof WorkflowFailedError) {
      console.error(`run failed: ${rootCause(err).message}`);
    } else if (err instanceof WorkflowExecutionAlreadyStartedError) {
      console.error(`a run with workflow id "${err.workflowId}" is already running; pick another --run-id`);
    } else {
      console.error(err instanceof Error ? err.message : String(err));
    }
    process.exit(err instanceof ConfigError ? 2 : 1);
  },
);
