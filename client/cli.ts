import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError } from '@temporalio/client';
import { dirname } from 'node:path';
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
import { redactOutput } from './output.js';
import { rootCause } from './errors.js';
import { commandArgs, readCommandLine, UsageError } from './args.js';
import { refusal } from './verbs.js';
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

redactOutput();
const line = readCommandLine(process.argv.slice(2));

async function main(): Promise<number> {
  if ('exit' in line) {
    (line.exit === 0 ? console.log : console.error)(line.text);
    return line.exit;
  }
  const { verb: command, rest, positionals } = line;
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
      if (commandArgs('show', rest).values['unapplied-config'])
        return unappliedConfig(requireRun(positionals[0]));
      return control(command, requireRun(positionals[0]));
    case 'pause':
    case 'resume':
    case 'stop':
    case 'cancel':
      return control(command, requireRun(positionals[0]));
    case 'update':
      return update(rest);
    case 'list':
      return list(rest);
    case 'ui':
      return ui(rest);
    case 'doctor':
      return doctor(positionals[0]);
    case 'codec-server':
      return codecServer(rest);
    case 'report':
      return report(rest);
    case 'config': {
      const path = positionals[0];
      if (!path) throw new UsageError('which config? name a YAML or JSON file');
      const config = loadConfigFile(path);
      await checkPromptPools(config, path, (line) => console.error(`note: ${line}`));
      say(JSON.stringify(config, null, 2));
      return 0;
    }
    case 'export':
      return exportCommand(rest, say);
    case 'experiment': {
      if (positionals[0] === 'render') {
        const file = positionals[1];
        if (!file) throw new UsageError('render: which results.json?');
        const written = await renderExperiment(
          readExperimentResults(file),
          commandArgs('experiment', rest).values.out ?? dirname(file),
        );
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
      if (results.load)
        say(
          `CPU: ${results.load.cpuSeconds.experiment.toFixed(0)} s the experiment's, ${results.load.cpuSeconds.other.toFixed(0)} s other processes' (load average median ${results.load.loadavg1.median.toFixed(1)}, max ${results.load.loadavg1.max.toFixed(1)}, ${results.load.cpus} cores)`,
        );
      return 0;
    }
    case 'metrics':
      return metricsCommand(rest, say);
    case 'demo': {
      await stackUp(settings, say);
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
      const runId = `demo-${stamp}`.toLowerCase();
      const code = await runCommand(['deploy/demo/config.yaml', '--run-id', runId], { demo: true });
      say(`HTML report with charts: npm run evolve -- report ${runId}`);
      say('The stack is still up: open the UI link above; `npm run evolve -- down` stops it.');
      return code;
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError && 'verb' in line) {
      console.error(refusal(line.verb, err.message));
    } else if (err instanceof WorkflowFailedError) {
      console.error(`run failed: ${rootCause(err).message}`);
    } else if (err instanceof WorkflowExecutionAlreadyStartedError) {
      console.error(`a run with workflow id "${err.workflowId}" is already running; pick another --run-id`);
    } else {
      console.error(err instanceof Error ? err.message : String(err));
    }
    process.exit(err instanceof ConfigError ? 2 : 1);
  },
);
