// The handlers of the `evolve` commands that talk to a run or serve it: run, report, show, pause, resume,
// stop, cancel, update, list, ui and codec-server (client/cli.ts dispatches to them).
import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { checkPromptPools } from '../storage/prompt-pools.js';
import { codecsFromEnv } from '../codec/encryption.js';
import { createCodecServer } from '../codec/server.js';
import { ConfigError, RunIdSchema, type RunConfig } from '../core/config.js';
import {
  modelBaseUrl,
  stackSettings,
  type StackSettings,
  stackTemporal,
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
import { runDirectory } from './export.js';
import { listRuns, recordTable, runQuery, showRun, unappliedOf } from './inspect.js';
import { rootCause } from './errors.js';
import { temporalConnection } from './temporal-connection.js';
import { connectClient, onModelServer, startRun, summaryTable, watchRun } from './run.js';
import { commandArgs, UsageError } from './args.js';

export const say = (line: string) => console.log(line);

export async function runCommand(argv: string[], options: { demo: boolean }): Promise<number> {
  const { values, positionals } = commandArgs('run', argv);
  const path = positionals[0];
  if (!path) throw new UsageError('which config? name a YAML or JSON file');
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
  const client = await connectClient(temporalConnection(stackTemporal(settings)));
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

export const signals = { pause: pauseSignal, resume: resumeSignal, stop: stopAfterIterationSignal } as const;

export async function withClient<T>(fn: (client: Client, settings: StackSettings) => Promise<T>): Promise<T> {
  const settings = stackSettings();
  const client = await connectClient(temporalConnection(stackTemporal(settings)));
  try {
    return await fn(client, settings);
  } finally {
    await client.connection.close();
  }
}

export async function report(argv: string[]): Promise<number> {
  const { values, positionals } = commandArgs('report', argv);
  const run = requireRun(positionals[0]);
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

export const requireRun = (workflowId: string | undefined): string => {
  if (!workflowId) throw new UsageError('which run? name its id');
  return workflowId;
};

/** pause, resume and stop are signals to the run; cancel cancels it (and its running iteration). */
export async function control(
  verb: keyof typeof signals | 'cancel' | 'show',
  workflowId: string,
): Promise<number> {
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
export async function unappliedConfig(workflowId: string): Promise<number> {
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
export async function update(argv: string[]): Promise<number> {
  const { values, positionals } = commandArgs('update', argv);
  const [workflowId, file] = positionals;
  if (!workflowId || (!file && !values.set?.length)) {
    throw new UsageError('which run, and what to change? name a changes file or --set key.path=value');
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

export async function list(argv: string[]): Promise<number> {
  const { values } = commandArgs('list', argv);
  return withClient(async (client) => {
    const rows = await listRuns(client, values.query);
    say(rows.length ? recordTable(rows as unknown as Record<string, string>[]) : 'no runs');
    return 0;
  });
}

/** Prints the run's UI page and the filter that lists its iterations; `--open` opens it in a browser. */
export function ui(argv: string[]): number {
  const { values, positionals } = commandArgs('ui', argv);
  const workflowId = requireRun(positionals[0]);
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

export async function codecServer(argv: string[]): Promise<number> {
  const { values } = commandArgs('codec-server', argv);
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
