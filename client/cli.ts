import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError } from '@temporalio/client';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { checkPromptPools } from '../storage/prompt-pools.js';
import { ConfigError } from '../core/config.js';
import { codecLoginUrl, stackDown, stackSettings, stackStatus, stackUp, uiUrl } from '../deploy/stack.js';
import { loadConfigFile } from './config-file.js';
import { doctor } from './doctor.js';
import { exportCommand } from './export.js';
import {
  markdownTable,
  parseExperimentArgs,
  readExperimentResults,
  renderExperiment,
  runExperiment,
} from './experiment.js';
import { metricsCommand } from './metrics.js';
import { rootCause } from './errors.js';
import {
  codecServer,
  control,
  list,
  report,
  requireRun,
  runCommand,
  say,
  unappliedConfig,
  update,
  ui,
  withClient,
} from './commands.js';
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
      return runCommand(rest, { demo: false });
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
      say(markdownTable(results.arms, results.comparisons));
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
      const code = await runCommand(['deploy/demo/config.yaml', '--run-id', runId, ...rest], { demo: true });
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
