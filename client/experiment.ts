import type { Client } from '@temporalio/client';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { readAll } from '../storage/jsonl.js';
import { arithmeticProblems } from '../core/arithmetic.js';
import { ConfigError, mergeConfig, PromptSourceSchema, type RunConfig } from '../core/config.js';
import { pairedDifference } from '../core/metrics/paired.js';
import { wilsonInterval } from '../core/metrics/wilson.js';
import { checkpointManifestPath } from '../storage/manifests.js';
import { GenerationRecordSchema, PairRecordSchema } from '../core/records.js';
import type { RunResult } from '../core/steps.js';
import { ALL_SERVICES, ownPid, type StackSettings } from '../deploy/stack.js';
import type { evolveRun } from '../workflows/run.js';
import { experimentCharts } from '../report/experiment-charts.js';
import { startBatchingServers } from './batching-servers.js';
import { monitorLoad } from './load-monitor.js';
import { loadConfigFile, loadPatchFile } from './config-file.js';
import { onModelServer, startRun, watchRun } from './run.js';
import { commandArgs, UsageError } from './args.js';
import {
  ARMS,
  type Arm,
  type ArmResults,
  type Comparison,
  type ExperimentResults,
  ExperimentResultsSchema,
  type IterationRow,
  METRICS,
  type MetricRow,
} from '../core/experiment-results.js';
import { StageZeroSpecSchema, writeDemonstrations } from './stage-zero.js';

/** The micro-reproduction (docs/results/micro-reproduction.md): EVOLVE against Iterative DPO. */
export const MICRO_DIR = 'deploy/configs/micro';

const ExperimentFileSchema = z.strictObject({
  dev: PromptSourceSchema.describe(
    'the dev split: hyper-parameters are chosen on it, never on the test split',
  ),
  smoke: z.record(z.string(), z.unknown()).describe('config keys merged into each arm by --smoke'),
  stage0: StageZeroSpecSchema.extend({
    smoke: StageZeroSpecSchema.partial().default({}).describe('keys --smoke overrides'),
  })
    .optional()
    .describe('stage 0 (SR-aware SFT on refinement demonstrations), run once and shared by both arms'),
});

/** experiment.yaml of the directory, checked: a bad file names itself and the field. */
function experimentFile(dir: string) {
  const path = join(dir, 'experiment.yaml');
  const parsed = ExperimentFileSchema.safeParse(loadPatchFile(path));
  if (!parsed.success) throw new ConfigError(`${path} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export interface ExperimentOptions {
  smoke: boolean;
  split: 'test' | 'dev';
  /** Names the runs (`micro-<arm>-<stamp>`), so that a rerun does not collide with an earlier one. */
  stamp: string;
  outDir: string;
  /** Overrides the arms' artifactRoot (tests write under a temporary directory). */
  artifactRoot?: string;
  dir?: string;
  /** The arms' iterations instead of the configs' (`--iterations`). */
  iterations?: number;
  /**
   * An earlier experiment's stamp (`--reuse-from`): its runs are every run's reuse sources and its
   * stage-0 demonstrations are used, so a dev rerun that changes one knob trains pi_1 once.
   */
  reuseFrom?: string;
  /**
   * Which replicate (`--replicate`, default 0): replicate r draws other training problems and other
   * samples, on the same evaluation problems and stage 0, so replicates measure the run-to-run spread.
   */
  replicate?: number;
}

/** Seeds move by this per replicate: more than any run's iterations, which training seeds add (results.json says so). */
const REPLICATE_SEED_STRIDE = 1000;

/**
 * The config of replicate r: the training prompts' seeds moved, nothing else. Other problems mean other
 * samples; sampling.seed stays, since the evaluation's requests use it too and would no longer be reused.
 */
function replicated(config: RunConfig, r: number): RunConfig {
  if (r === 0) return config;
  const shift = REPLICATE_SEED_STRIDE * r;
  return { ...config, prompts: config.prompts.map((p) => ({ ...p, seed: (p.seed ?? 0) + shift })) };
}

const runSuffix = (options: ExperimentOptions, stamp: string) =>
  [options.smoke ? 'smoke' : '', options.split === 'dev' ? 'dev' : '', stamp].filter(Boolean).join('-');

/**
 * The runs of the experiment `--reuse-from` names that exist under `artifactRoot` (config.json written),
 * its own split's first: a test run reuses a dev experiment's stage 0 (its demonstrations leave out both
 * splits); training and evaluations hold their split's problems, so their keys differ.
 */
function earlierRuns(options: ExperimentOptions, artifactRoot: string): string[] {
  const { reuseFrom } = options;
  if (!reuseFrom) return [];
  return [options.split, options.split === 'dev' ? ('test' as const) : ('dev' as const)]
    .flatMap((split) =>
      ['stage0', 'base', ...ARMS].map(
        (name) => `micro-${name}-${runSuffix({ ...options, split }, reuseFrom)}`,
      ),
    )
    .filter((run) => existsSync(join(artifactRoot, run, 'config.json')));
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
  const experiment = experimentFile(dir);
  let config = onModelServer(
    mergeConfig(loaded, options.smoke ? experiment.smoke : {}, `${join(dir, 'experiment.yaml')} (smoke)`),
    servers.policy,
  );
  const { evaluation } = config;
  const evaluationEndpoint = {
    ...(evaluation.endpoint ?? config.policy.endpoint),
    baseUrl: servers.evaluation,
  };
  config = { ...config, evaluation: { ...evaluation, endpoint: evaluationEndpoint } };
  if (options.split === 'dev')
    config = mergeConfig(
      config,
      { evaluation: { prompts: experiment.dev } },
      `${join(dir, 'experiment.yaml')} (dev)`,
    );
  config = replicated(config, options.replicate ?? 0);
  const artifactRoot = options.artifactRoot ?? config.artifactRoot;
  const earlier = earlierRuns(options, artifactRoot);
  return {
    ...config,
    runId: `micro-${arm}-${runSuffix(options, options.stamp)}`,
    artifactRoot,
    ...(options.iterations !== undefined && { iterations: options.iterations }),
    ...(earlier.length > 0 && { reuseFrom: [...(config.reuseFrom ?? []), ...earlier] }),
  };
}

/** The step of a generation from its id, `<run>/<iteration>/<prompt>/<chain>/<step>`. */
const stepOf = (generationId: string) => Number(generationId.split('/').at(-1));

// evaluation.json's kept answers (activities/evaluate.ts): one per prompt and round, score null if none.
const KeptFileSchema = z.object({
  kept: z.array(z.object({ promptId: z.string(), round: z.int(), score: z.number().nullable() })),
});

/** Per round, whether each prompt's kept answer was right, in prompt-id order: the paired outcomes. */
export function keptOutcomes(evaluationUri: string): { promptIds: string[]; rounds: boolean[][] } {
  const kept = [...readJsonFile(evaluationUri, KeptFileSchema).kept].sort((a, b) =>
    a.promptId < b.promptId ? -1 : a.promptId > b.promptId ? 1 : 0,
  );
  const rounds: boolean[][] = [];
  for (const k of kept) (rounds[k.round] ??= []).push(k.score === 1);
  return { promptIds: [...new Set(kept.map((k) => k.promptId))], rounds };
}

// The checkpoint manifest's metrics (core/checkpoint.ts) that the results report.
const TrainMetricsSchema = z.object({
  metrics: z.object({
    truncated_rows: z.number().optional(),
    dropped_rows: z.number().optional(),
    optimizerSteps: z.number().optional(),
  }),
});

/** Training rows cut or dropped and optimizer steps of a DPO checkpoint, from its checkpoint.json. */
function trainMetrics(checkpoint: string): { trainerRows: number | null; optimizerSteps: number | null } {
  const path = checkpointManifestPath(checkpoint);
  if (!existsSync(path)) return { trainerRows: null, optimizerSteps: null };
  const { metrics } = readJsonFile(path, TrainMetricsSchema);
  return {
    trainerRows: (metrics.truncated_rows ?? 0) + (metrics.dropped_rows ?? 0),
    optimizerSteps: metrics.optimizerSteps ?? null,
  };
}

/** Ids of the generations flagged truncated (cut at maxTokens) in a step's shard-*.jsonl files. */
async function truncatedIds(stepDir: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const f of readdirSync(stepDir).filter((n) => /^shard-\d+\.jsonl$/.test(n)))
    for (const g of await readAll(join(stepDir, f), GenerationRecordSchema))
      if (g.flags.includes('truncated')) ids.add(g.id);
  return ids;
}

/** Accuracy rows (95 % Wilson) of the first `METRICS.length` rounds of an evaluation. */
function metricRows(evaluation: { prompts: number; accuracy: number[] }): MetricRow[] {
  const { prompts, accuracy } = evaluation;
  return accuracy.slice(0, METRICS.length).map((share, round): MetricRow => {
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
}

/**
 * Per iteration: accuracy with 95 % Wilson intervals, the paired refine@1 - direct, pairs, refinement
 * wins, truncated training rows, optimizer steps, step times.
 */
export async function armResults(arm: Arm, result: RunResult): Promise<ArmResults> {
  const iterations: IterationRow[] = [];
  for (const it of result.iterations) {
    const [direct, refine1] = keptOutcomes(it.evaluation.uri).rounds;
    const pairStep = it.steps.find((s) => s.step === 'pair');
    const trainStep = it.steps.find((s) => s.step === 'train');
    let pairs: number | null = null;
    let refinementWins: number | null = null;
    let truncated: IterationRow['truncated'] = null;
    let optimizerSteps: number | null = null;
    if (pairStep) {
      const rows = await readAll(pairStep.uri, PairRecordSchema);
      const direct = rows.filter((p) => p.kind === 'direct');
      pairs = direct.length;
      refinementWins = direct.filter((p) => stepOf(p.chosenId) > stepOf(p.rejectedId)).length;
      const cut = new Set<string>();
      for (const s of it.steps.filter((s) => s.step === 'train:sample' || s.step === 'train:refine'))
        for (const id of await truncatedIds(s.uri)) cut.add(id);
      const trained = new Set(rows.flatMap((p) => [p.chosenId, p.rejectedId]));
      const trainer = trainStep ? trainMetrics(trainStep.uri) : { trainerRows: null, optimizerSteps: null };
      truncated = {
        responses: [...trained].filter((id) => cut.has(id)).length,
        trainerRows: trainer.trainerRows,
      };
      optimizerSteps = trainer.optimizerSteps;
    }
    const stepSeconds: Record<string, number> = {};
    for (const s of it.steps) stepSeconds[s.step] = (stepSeconds[s.step] ?? 0) + s.wallMs / 1000;
    iterations.push({
      iteration: it.iteration,
      metrics: metricRows(it.evaluation),
      pairs,
      refinementWins,
      truncated,
      optimizerSteps,
      paired: { 'refine@1-direct': pairedDifference(refine1!, direct!) },
      stepSeconds,
    });
  }
  return { arm, runId: result.runId, configHash: result.configHash, iterations };
}

/**
 * `a - b` per iteration both ran, on direct and refine@1, paired over the same problems (an error if the
 * two evaluated different problems: a paired interval would then be meaningless).
 */
export function pairedComparisons(a: RunResult, b: RunResult): Comparison[] {
  const out: Comparison[] = [];
  for (const it of a.iterations) {
    const other = b.iterations.find((o) => o.iteration === it.iteration);
    if (!other) continue;
    const [x, y] = [keptOutcomes(it.evaluation.uri), keptOutcomes(other.evaluation.uri)];
    if (x.promptIds.join('\n') !== y.promptIds.join('\n'))
      throw new ConfigError(
        `${it.evaluation.uri} and ${other.evaluation.uri} evaluated different problems: no paired comparison`,
      );
    for (const [round, metric] of (['direct', 'refine@1'] as const).entries())
      out.push({ iteration: it.iteration, metric, ...pairedDifference(x.rounds[round]!, y.rounds[round]!) });
  }
  return out;
}

const pct = (x: number) => (100 * x).toFixed(1);
const paired = (d: { estimate: number; low: number; high: number }) =>
  `${pct(d.estimate)} [${pct(d.low)}, ${pct(d.high)}]`;

/**
 * arm x iteration x direct / refine@1 / refine@2 (95 % Wilson), refine@1 - direct (paired, exact
 * McNemar-based 95 %), pairs, refinement wins, truncated training rows and optimizer steps; then
 * EVOLVE - Iterative DPO per iteration (paired).
 */
export function markdownTable(arms: ArmResults[], comparisons: Comparison[]): string {
  const lines = [
    `| arm | iteration | ${METRICS.join(' | ')} | refine@1 - direct | pairs | refinement won | truncated | steps |`,
    `|---|---|${METRICS.map(() => '---').join('|')}|---|---|---|---|---|`,
  ];
  for (const a of arms) {
    for (const it of a.iterations) {
      const cells = METRICS.map((name) => {
        const m = it.metrics.find((x) => x.metric === name);
        return m ? `${pct(m.accuracy)} [${pct(m.ci95.low)}, ${pct(m.ci95.high)}]` : '-';
      });
      const wins =
        it.pairs === null
          ? '-'
          : `${it.refinementWins} (${it.pairs ? pct(it.refinementWins! / it.pairs) : '0.0'} %)`;
      const cut = it.truncated ? `${it.truncated.responses} / ${it.truncated.trainerRows ?? '-'}` : '-';
      const cols = [paired(it.paired['refine@1-direct']), it.pairs ?? '-', wins, cut];
      lines.push(
        `| ${a.arm} | ${it.iteration} | ${cells.join(' | ')} | ${cols.join(' | ')} | ${it.optimizerSteps ?? '-'} |`,
      );
    }
  }
  if (comparisons.length > 0) {
    lines.push('', '| EVOLVE - Iterative DPO | iteration | paired difference [95 %] |', '|---|---|---|');
    for (const c of comparisons) lines.push(`| ${c.metric} | ${c.iteration} | ${paired(c)} |`);
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
  // Nothing else may share the cores during the test run: results.json records who used them.
  const load = monitorLoad([process.pid, ...ALL_SERVICES.flatMap((s) => ownPid(settings, s) ?? [])]);
  let runs: RunResult[];
  let stage0: ExperimentResults['stage0'] = null;
  const runIds: string[] = [];
  try {
    const serversOf = (i: number) => ({ policy: servers.urls[2 * i]!, evaluation: servers.urls[2 * i + 1]! });
    let configs = ARMS.map((arm, i) => armConfig(arm, options, serversOf(i)));
    const follow = async (name: string, config: RunConfig) => {
      runIds.push(config.runId);
      const handle = await startOrAttach(client, config, settings.taskQueue, (line) =>
        say(`${name}: ${line}`),
      );
      return watchRun(client, handle, config.iterations, (line) => say(`${name}: ${line}`));
    };
    const spec = experimentFile(options.dir ?? MICRO_DIR).stage0;
    if (spec) {
      const shared = await sharedStageZero(spec, options, serversOf, servers.urls, follow, say);
      stage0 = shared.results;
      configs = configs.map(shared.arm);
    }
    runs = await Promise.all(ARMS.map((arm, i) => follow(arm, configs[i]!)));
  } finally {
    await servers.stop();
  }
  const [evolve, dpo] = runs;
  const results: ExperimentResults = {
    smoke: options.smoke,
    split: options.split,
    replicate: options.replicate ?? 0,
    wallSeconds: await spanSeconds(client, runIds),
    load: load.stop(),
    stage0,
    arms: await Promise.all(ARMS.map((arm, i) => armResults(arm, runs[i]!))),
    comparisons: pairedComparisons(evolve!, dpo!),
  };
  writeFileSync(join(options.outDir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
  await renderExperiment(results, options.outDir);
  return results;
}

/**
 * Stage 0, once for both arms. The demonstrations come from the base model on all the experiment's
 * servers (written once per output directory). Then two evaluation-only runs side by side: stage 0's
 * (SFT, then pi_1 evaluated as iteration 0) and the base model's (iteration 0): the ablation. Each arm
 * then names the stage-0 run in reuseFrom, so its stage 0 finds that SFT job finished: one pi_1 for both.
 */
async function sharedStageZero(
  spec: NonNullable<z.infer<typeof ExperimentFileSchema>['stage0']>,
  options: ExperimentOptions,
  serversOf: (i: number) => ArmServers,
  servers: string[],
  follow: (name: string, config: RunConfig) => Promise<RunResult>,
  say: (line: string) => void,
): Promise<{ results: NonNullable<ExperimentResults['stage0']>; arm: (c: RunConfig) => RunConfig }> {
  const { smoke, ...full } = spec;
  const demos = options.smoke ? { ...full, ...smoke } : full;
  const evolve = armConfig('evolve', options, serversOf(0));
  const source = evolve.prompts[0];
  const ask = source?.kind === 'arithmetic' ? source.ask : undefined;
  const dataset = resolve(options.outDir, 'stage0', 'demonstrations.jsonl');
  const earlier = earlierDemonstrations(options, evolve.artifactRoot);
  if (!existsSync(dataset) && earlier) {
    mkdirSync(dirname(dataset), { recursive: true });
    copyFileSync(earlier, dataset);
    say(`stage 0: the demonstrations of experiment ${options.reuseFrom} (${earlier})`);
  } else if (!existsSync(dataset)) {
    // No problem of either evaluation split may be trained on.
    const exclude = new Set(
      (['test', 'dev'] as const).flatMap((split) => {
        const p = armConfig('evolve', { ...options, split }, serversOf(0)).evaluation.prompts;
        return p.kind === 'arithmetic'
          ? arithmeticProblems(p.count, p.seed, p.maxOperand, 'arith', p.ask).map((x) => x.prompt)
          : [];
      }),
    );
    // Before the runs start every server is idle: all of them sample, as replicas of one endpoint.
    const endpoint = evolve.policy.endpoint;
    const made = await writeDemonstrations(
      demos,
      ask,
      {
        ...endpoint,
        baseUrl: undefined,
        baseUrls: servers,
        maxConcurrency: endpoint.maxConcurrency * servers.length,
      },
      evolve.policy.baseModel,
      exclude,
      dataset,
    );
    say(
      `stage 0: ${made.triples} demonstrations, ${made.sampledWrong} of them the base model's sampled wrong answers, ${made.keeps} keeps of a right answer (${made.skipped} problems skipped: dev or test problems), in ${dataset}`,
    );
  }
  const suffix = runSuffix(options, options.stamp);
  const withDataset = (c: RunConfig): RunConfig => ({
    ...c,
    trainer: { ...c.trainer, sft: { ...c.trainer.sft, dataset } },
  });
  const stageRun = { ...withDataset(evolve), runId: `micro-stage0-${suffix}`, iterations: 0 };
  const baseRun = {
    ...armConfig('evolve', options, serversOf(1)),
    runId: `micro-base-${suffix}`,
    iterations: 0,
  };
  const [pi1, base] = await Promise.all([follow('stage 0', stageRun), follow('base', baseRun)]);
  const sft = pi1.stage0;
  if (!sft) throw new Error(`run ${pi1.runId} finished without stage 0`);
  return {
    results: {
      checkpoint: sft.uri,
      rows: sft.rows,
      seconds: sft.wallMs / 1000,
      ablation: pairedComparisons(pi1, base),
      base: metricRows(base.iterations[0]!.evaluation),
    },
    arm: (c) => ({ ...withDataset(c), reuseFrom: [...(c.reuseFrom ?? []), stageRun.runId] }),
  };
}

/** The stage-0 demonstrations file of the experiment `--reuse-from` names, from its stage-0 run's config. */
function earlierDemonstrations(options: ExperimentOptions, artifactRoot: string): string | null {
  if (!options.reuseFrom) return null;
  const stageRun = earlierRuns(options, artifactRoot).find((run) => run.startsWith('micro-stage0-'));
  if (!stageRun)
    throw new ConfigError(
      `--reuse-from ${options.reuseFrom}: no stage-0 run of that experiment in ${artifactRoot}`,
    );
  const dataset = readJsonFile(
    join(artifactRoot, stageRun, 'config.json'),
    z.object({ trainer: z.object({ sft: z.object({ dataset: z.string() }) }) }),
  ).trainer.sft.dataset;
  if (!existsSync(dataset))
    throw new ConfigError(`--reuse-from ${options.reuseFrom}: its demonstrations ${dataset} are gone`);
  return dataset;
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
  writeFileSync(written[0]!, markdownTable(results.arms, results.comparisons) + '\n');
  for (const { id, svg } of await experimentCharts(results)) {
    const path = join(outDir, 'charts', `${id}.svg`);
    writeFileSync(path, svg);
    written.push(path);
  }
  return written;
}

/** A results.json, checked against its schema: a bad file names itself and the field. */
export function readExperimentResults(path: string): ExperimentResults {
  return readJsonFile(path, ExperimentResultsSchema);
}

/** A JSON file checked against its schema: a bad file names itself and the field. */
function readJsonFile<T>(path: string, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${path}: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${path} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

const STAMP = /^[a-z0-9][a-z0-9-]{0,30}$/; // part of a run id

/**
 * `evolve experiment micro [--smoke] [--split test|dev] [--out DIR] [--stamp S] [--iterations N]
 * [--reuse-from S] [--replicate R]`.
 */
export function parseExperimentArgs(argv: string[], now = new Date()): ExperimentOptions {
  const { values, positionals } = commandArgs('experiment', argv);
  if (positionals[0] !== 'micro')
    throw new UsageError(`micro or render${positionals[0] ? `, not "${positionals[0]}"` : '?'}`);
  if (values.split !== 'test' && values.split !== 'dev')
    throw new UsageError(`--split ${values.split}: expected test or dev`);
  const stamp = values.stamp ?? now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  if (!STAMP.test(stamp))
    throw new ConfigError(`--stamp ${stamp}: lower-case letters, digits and "-" (max 31)`);
  const reuseFrom = values['reuse-from'];
  if (reuseFrom !== undefined && (!STAMP.test(reuseFrom) || reuseFrom === stamp))
    throw new UsageError(`--reuse-from ${reuseFrom}: an earlier experiment's stamp, not this one's`);
  const iterations = values.iterations === undefined ? undefined : Number(values.iterations);
  if (iterations !== undefined && !(Number.isInteger(iterations) && iterations >= 0 && iterations <= 100))
    throw new UsageError(`--iterations ${values.iterations}: expected a whole number from 0 to 100`);
  const replicate = values.replicate === undefined ? undefined : Number(values.replicate);
  if (replicate !== undefined && !(Number.isInteger(replicate) && replicate >= 0 && replicate <= 999))
    throw new UsageError(`--replicate ${values.replicate}: expected a whole number from 0 to 999`);
  return {
    ...(iterations !== undefined && { iterations }),
    ...(replicate !== undefined && { replicate }),
    ...(reuseFrom !== undefined && { reuseFrom }),
    smoke: values.smoke,
    split: values.split,
    stamp,
    outDir: values.out ?? join('.evolve', 'experiments', `micro-${values.smoke ? 'smoke-' : ''}${stamp}`),
  };
}
