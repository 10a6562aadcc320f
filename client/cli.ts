import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError } from '@temporalio/client';
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/config.js';
import {
  modelBaseUrl,
  stackDown,
  stackSettings,
  stackStatus,
  stackUp,
  temporalAddress,
  uiUrl,
  workflowUrl,
} from '../deploy/stack.js';
import { pauseSignal, resumeSignal, runStatusQuery, stopAfterIterationSignal } from '../workflows/control.js';
import { iterationProgressQuery } from '../workflows/iteration.js';
import { loadConfigFile } from './config-file.js';
import { rootCause } from './errors.js';
import { connectClient, startRun, summaryTable, watchRun } from './run.js';

const USAGE = `evolve: the EVOLVE self-refinement loop on Temporal

  evolve up                      start the embedded stack (Temporal dev server + UI, model server, worker)
  evolve down                    stop it
  evolve status                  health of each service
  evolve run <config> [--wait] [--json] [--run-id ID]
                                 validate a YAML/JSON config and start a run (workflow id = run id)
  evolve config <config>         validate a config and print it as the workflow input JSON (defaults filled),
                                 e.g. for \`temporal workflow start --input-file\`
  evolve show <run>              the run's iteration, step, shard progress and pause/stop state
  evolve pause <run>             hold the run before its next step (running activities finish)
  evolve resume <run>            continue a paused run
  evolve stop <run>              finish the running iteration, then end the run
  evolve demo                    up, then run deploy/demo/config.yaml to completion and print the summary

Ports and names come from EVOLVE_TEMPORAL_PORT (7233), EVOLVE_UI_PORT (8233), EVOLVE_MODEL_PORT (8000),
EVOLVE_TASK_QUEUE (evolve), TEMPORAL_NAMESPACE (default), EVOLVE_HOME (.evolve).`;

const say = (line: string) => console.log(line);

async function run(argv: string[], options: { demo: boolean }): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { wait: { type: 'boolean' }, json: { type: 'boolean' }, 'run-id': { type: 'string' } },
  });
  const path = positionals[0];
  if (!path) throw new ConfigError('usage: evolve run <config.yaml|json> [--wait] [--json] [--run-id ID]');
  const settings = stackSettings();
  const loaded = loadConfigFile(path);
  const config = { ...loaded, runId: values['run-id'] ?? loaded.runId };
  if (options.demo) {
    // The demo talks to the embedded model server wherever EVOLVE_MODEL_PORT put it.
    config.policy = {
      ...config.policy,
      endpoint: { ...config.policy.endpoint, baseUrl: modelBaseUrl(settings) },
    };
    const llm = config.judge.llm;
    if (llm) {
      config.judge = {
        ...config.judge,
        llm: { ...llm, endpoint: { ...llm.endpoint, baseUrl: modelBaseUrl(settings) } },
      };
    }
  }
  const client = await connectClient(temporalAddress(settings), settings.namespace);
  try {
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

/** `show` queries the run and its current iteration; the other verbs are signals to the run. */
async function control(verb: 'show' | keyof typeof signals, workflowId: string | undefined): Promise<number> {
  if (!workflowId) throw new ConfigError(`usage: evolve ${verb} <run id>`);
  const settings = stackSettings();
  const client = await connectClient(temporalAddress(settings), settings.namespace);
  try {
    const handle = client.workflow.getHandle(workflowId);
    if (verb !== 'show') {
      await handle.signal(signals[verb]);
      say(`${verb} sent to ${workflowId}`);
    }
    const status = await handle.query(runStatusQuery);
    const flags = [status.paused && 'PAUSED', status.stopRequested && 'stopping after this iteration'].filter(
      Boolean,
    );
    say(
      `${workflowId}: iteration ${status.iteration}/${status.iterations}, policy ${status.policyModel}${flags.length ? ` [${flags.join(', ')}]` : ''}`,
    );
    if (status.iteration > 0) {
      const p = await client.workflow
        .getHandle(`${workflowId}/iter-${status.iteration}`)
        .query(iterationProgressQuery);
      say(`  step ${p.step}${p.paused ? ' (paused)' : ''}, shards ${p.shardsDone}/${p.shards}`);
      for (const s of p.steps) say(`  done ${s.step}: ${s.rows} rows -> ${s.uri}`);
    }
    say(`  ${workflowUrl(settings, workflowId)}`);
    return 0;
  } finally {
    await client.connection.close();
  }
}

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  const settings = stackSettings();
  switch (command) {
    case 'up':
      await stackUp(settings, say);
      say(`Temporal UI: ${uiUrl(settings)}`);
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
    case 'pause':
    case 'resume':
    case 'stop':
      return control(command, rest[0]);
    case 'config': {
      if (!rest[0]) throw new ConfigError('usage: evolve config <config.yaml|json>');
      say(JSON.stringify(loadConfigFile(rest[0]), null, 2));
      return 0;
    }
    case 'demo': {
      await stackUp(settings, say);
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
      const code = await run(
        ['deploy/demo/config.yaml', '--run-id', `demo-${stamp}`.toLowerCase(), ...rest],
        { demo: true },
      );
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
