import type { Client } from '@temporalio/client';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { readAll } from '../storage/jsonl.js';
import { ConfigError, mergeConfig, PromptSourceSchema, type RunConfig } from '../core/config.js';
import { wilsonInterval } from '../core/metrics/wilson.js';
import { PairRecordSchema } from '../core/records.js';
import type { RunResult } from '../core/steps.js';
import type { StackSettings } from '../deploy/stack.js';
import type { evolveRun } from '../workflows/run.js';
import { experimentCharts } from '../report/experiment-charts.js';
import { startBatchingServers } from './batching-servers.js';
import { loadConfigFile, loadPatchFile } from './config-file.js';
import { onModelServer, startRun, watchRun } from './run.js';
import { commandArgs, UsageError } from './args.js';
import {
  ARMS,
  type Arm,
  type ArmResults,
  type ExperimentResults,
  ExperimentResultsSchema,
  type IterationRow,
  METRICS,
  type MetricRow,
} from '../core/experiment-results.js';

/** The micro-reproduction (docs/results/micro-reproduction.md): EVOLVE against Iterative DPO. */
export const MICRO_DIR = 'deploy/configs/micro';

const ExperimentFileSchema = z.strictObject({
  dev: PromptSourceSchema.describe(
    'the dev split: hyper-parameters are chosen on it, never on the test split',
  ),
  smoke: z.record(z.string(), z.unknown()).describe('config keys merged into each arm by --smoke'),
});

export interface ExperimentOptions {
  smoke: boolean;
  split: 'test' | 'dev';
  /** Names the runs (`micro-<arm>-<stamp>`), so that a rerun does not collide with an earlier one. */
  stamp: string;
  outDir: string;
  /** Overrides the arms' artifactRoot (tests write under a temporary directory). */
  artifactRoot?: string;
  dir?: string;
}

/**
 * An arm's two model servers (OpenAI base URLs). A batching server takes one model and one temperature
 * at a time (client/batching-servers.ts): each arm samples on one and evaluates greedily on the other.
 */
export interface ArmServers {
  policy: string;
  evaluation: string;
}

/** One arm's run config: the committed file on the arm's servers, then the smoke and split overrides. */
export function armConfig(arm: Arm, options: ExperimentOptions, servers: ArmServers): RunConfig {
  const dir = options.dir ?? MICRO_DIR;
  const loaded = loadConfigFile(join(dir, `${arm}.yaml`));
  const experimentPath = join(dir, 'experiment.yaml');
  const parsed = ExperimentFileSchema.safeParse(loadPatchFile(experimentPath));
  if (!parsed.success)
    throw new ConfigError(`${experimentPath} is invalid: ${z.prettifyError(parsed.error)}`);
  const experiment = parsed.data;
  let config = onModelServer(
    mergeConfig(loaded, options.smoke ? experiment.smoke : {}, `${experimentPath} (smoke)`),
    servers.policy,
  );
  const { evaluation } = config;
  const evaluationEndpoint = {
    ...(evaluation.endpoint ?? config.policy.endpoint),
    baseUrl: servers.evaluation,
  };
  config = { ...config, evaluation: { ...evaluation, endpoint: evaluationEndpoint } };
  if (options.split === 'dev')
    config = mergeConfig(config, { evaluation: { prompts: experiment.dev } }, `${experimentPath} (dev)`);
  const suffix = [options.smoke ? 'smoke' : '', options.split === 'dev' ? 'dev' : '', options.stamp]
    .filter(Boolean)
    .join('-');
  return {
    ...config,
    runId: `micro-${arm}-${suffix}`,
    ...(options.artifactRoot && { artifactRoot: options.artifactRoot }),
  };
}

/** The step of a generation from its id, `<run>/<iteration>/<prompt>/<chain>/<step>`. */
const stepOf = (generationId: string) => Number(generationId.split('/').at(-1));

/** Per iteration: accuracy with 95 % Wilson intervals, pairs, refinement wins, step times. */
export async function armResults(arm: Arm, result: RunResult): Promise<ArmResults> {
  const iterations: IterationRow[] = [];
  for (const it of result.iterations) {
    const { prompts, accuracy } = it.evaluation;
    const metrics = accuracy.slice(0, METRICS.length).map((share, round): MetricRow => {
      // accuracy[r] is a share of `prompts`: the count is exact up to float rounding.
      const correct = Math.round(share * prompts);
      return {
        metric: METRICS[round]!,
        accuracy: share,
        correct,
        prompts,
        ci95: wilsonInterval(correct, prompts),
      };
    });
    const pairStep = it.steps.find((s) => s.step === 'pair');
    let pairs: number | null = null;
    let refinementWins: number | null = null;
    if (pairStep) {
      const direct = (await readAll(pairStep.uri, PairRecordSchema)).filter((p) => p.kind === 'direct');
      pairs = direct.length;
      refinementWins = direct.filter((p) => stepOf(p.chosenId) > stepOf(p.rejectedId)).length;
    }
    const stepSeconds: Record<string, number> = {};
    for (const s of it.steps) stepSeconds[s.step] = (stepSeconds[s.step] ?? 0) + s.wallMs / 1000;
    iterations.push({ iteration: it.iteration, metrics, pairs, refinementWins, stepSeconds });
  }
  return { arm, runId: result.runId, configHash: result.configHash, iterations };
}

const pct = (x: number) => (100 * x).toFixed(1);

/** arm x iteration x direct / refine@1 / refine@2 (95 % Wilson), pairs and refinement wins. */
export function markdownTable(arms: ArmResults[]): string {
  const lines = [
    `| arm | iteration | ${METRICS.join(' | ')} | refine@1 - direct | pairs | refinement won |`,
    `|---|---|${METRICS.map(() => '---').join('|')}|---|---|---|`,
  ];
  for (const a of arms) {
    for (const it of a.iterations) {
      const cells = METRICS.map((name) => {
        const m = it.metrics.find((x) => x.metric === name);
        return m ? `${pct(m.accuracy)} [${pct(m.ci95.low)}, ${pct(m.ci95.high)}]` : '-';
      });
      const [direct, refine1] = it.metrics;
      const gain = direct && refine1 ? `${(100 * (refine1.accuracy - direct.accuracy)).toFixed(1)}` : '-';
      const wins =
        it.pairs === null
          ? '-'
          : `${it.refinementWins} (${it.pairs ? pct(it.refinementWins! / it.pairs) : '0.0'} %)`;
      lines.push(
        `| ${a.arm} | ${it.iteration} | ${cells.join(' | ')} | ${gain} | ${it.pairs ?? '-'} | ${wins} |`,
      );
    }
  }
  return lines.join('\n');
}

/**
 * Starts both arms on the stack's worker and waits for them. They run side by side: generation on the
 * model server and `trl dpo` then overlap on the cores, and each arm's numbers do not depend on the other.
 */
export async function runExperiment(
  client: Client,
  settings: StackSettings,
  options: ExperimentOptions,
  say: (line: string) => void,
): Promise<ExperimentResults> {
  const logs = join(options.outDir, 'logs');
  // The runs name their servers by URL: a rerun with the same stamp serves them on the same ports again.
  const portsFile = join(options.outDir, 'servers.json');
  const ports = existsSync(portsFile)
    ? z.array(z.int()).parse(JSON.parse(readFileSync(portsFile, 'utf8')))
    : [];
  say(`starting ${2 * ARMS.length} batching model servers (logs in ${logs})`);
  const servers = await startBatchingServers(settings, 2 * ARMS.length, logs, ports);
  mkdirSync(options.outDir, { recursive: true });
  writeFileSync(portsFile, JSON.stringify(servers.urls.map((url) => Number(new URL(url).port))) + '\n');
  let arms: ArmResults[];
  try {
    const configs = ARMS.map((arm, i) =>
      armConfig(arm, options, { policy: servers.urls[2 * i]!, evaluation: servers.urls[2 * i + 1]! }),
    );
    arms = await Promise.all(
      ARMS.map(async (arm, i) => {
        const config = configs[i]!;
        const handle = await startOrAttach(client, config, settings.taskQueue, (line) =>
          say(`${arm}: ${line}`),
        );
        const result = await watchRun(client, handle, config.iterations, (line) => say(`${arm}: ${line}`));
        return armResults(arm, result);
      }),
    );
  } finally {
    await servers.stop();
  }
  const results: ExperimentResults = {
    smoke: options.smoke,
    split: options.split,
    wallSeconds: await spanSeconds(
      client,
      arms.map((a) => a.runId),
    ),
    arms,
  };
  writeFileSync(join(options.outDir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  await renderExperiment(results, options.outDir);
  return results;
}

/**
 * Starts the arm's run, or, when the experiment is run again with the same stamp (its client died),
 * waits for the run of that id that exists: running, or finished with its result.
 */
async function startOrAttach(
  client: Client,
  config: RunConfig,
  taskQueue: string,
  say: (line: string) => void,
) {
  const existing = await client.workflow
    .getHandle<typeof evolveRun>(config.runId)
    .describe()
    .catch(() => null);
  // A failed, cancelled or terminated run starts again (its finished steps are reused).
  if (existing && (existing.status.name === 'RUNNING' || existing.status.name === 'COMPLETED')) {
    say(`attached to run ${config.runId} (${existing.status.name})`);
    return client.workflow.getHandle<typeof evolveRun>(config.runId);
  }
  const handle = await startRun(client, config, taskQueue);
  say(`started run ${config.runId}`);
  return handle;
}

/** From the first execution's start to the last one's close, over every execution of the runs. */
async function spanSeconds(client: Client, runIds: string[]): Promise<number> {
  let first = Infinity;
  let last = 0;
  for (const runId of runIds) {
    // Visibility lists the earlier executions (a failed run started again); the latest is described.
    for await (const w of client.workflow.list({ query: `WorkflowId = '${runId}'` }))
      first = Math.min(first, w.startTime.getTime());
    const latest = await client.workflow.getHandle(runId).describe();
    first = Math.min(first, latest.startTime.getTime());
    last = Math.max(last, (latest.closeTime ?? new Date()).getTime());
  }
  return (last - first) / 1000;
}

/** results.md (the table) and charts/*.svg from the results: `evolve experiment render` rebuilds them. */
export async function renderExperiment(results: ExperimentResults, outDir: string): Promise<string[]> {
  const written = [join(outDir, 'results.md')];
  mkdirSync(join(outDir, 'charts'), { recursive: true });
  writeFileSync(written[0]!, markdownTable(results.arms) + '\n');
  for (const { id, svg } of await experimentCharts(results)) {
    const path = join(outDir, 'charts', `${id}.svg`);
    writeFileSync(path, svg);
    written.push(path);
  }
  return written;
}

/** A results.json, checked against its schema: a bad file names itself and the field. */
export function readExperimentResults(path: string): ExperimentResults {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${path}: ${(err as Error).message}`);
  }
  const parsed = ExperimentResultsSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${path} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** `evolve experiment micro [--smoke] [--split test|dev] [--out DIR] [--stamp S]`. */
export function parseExperimentArgs(argv: string[], now = new Date()): ExperimentOptions {
  const { values, positionals } = commandArgs('experiment', argv);
  if (positionals[0] !== 'micro')
    throw new UsageError(`micro or render${positionals[0] ? `, not "${positionals[0]}"` : '?'}`);
  if (values.split !== 'test' && values.split !== 'dev')
    throw new UsageError(`--split ${values.split}: expected test or dev`);
  const stamp = values.stamp ?? now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(stamp))
    throw new ConfigError(`--stamp ${stamp}: lower-case letters, digits and "-" (max 31)`);
  return {
    smoke: values.smoke,
    split: values.split,
    stamp,
    outDir: values.out ?? join('.evolve', 'experiments', `micro-${values.smoke ? 'smoke-' : ''}${stamp}`),
  };
}
