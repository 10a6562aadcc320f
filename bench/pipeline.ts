/**
 * One EVOLVE iteration through the real sharded pipeline: a Temporal dev server, a real worker, the
 * real prompt, sample, refine, judge, pair and evaluate activities against an inference server given by URL.
 * Training and serving are stand-ins that return at once: they are not what is measured.
 * Prints one JSON line: wall time, the shards, each workflow run's history size and the worker's memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities, defaultDeps } from '../activities/index.js';
import { handoffRecorder, type Handoffs } from './handoffs.js';
import { loadConfigFile } from '../client/config-file.js';
import type { Endpoint, RunConfig } from '../core/config.js';
import type { Manifest } from '../core/records.js';
import { searchAttributeKeys } from '../core/search-attributes.js';
import { shardsOf } from '../core/shards.js';
import type { Checkpoint, EvalSummary, ModelRef, ShardRef, TrainingJob } from '../core/steps.js';
import { bundleWorkflowsApart } from '../workers/bundle.js';
import { SHUTDOWN_GRACE } from '../workers/worker.js';
import { afterFullGc } from '../workers/heap.js';
import { defaultSharding } from '../test/support/config.js';
import { historySize, type HistorySize } from '../test/support/history.js';
import { requireInstalled, temporalCli } from '../test/support/paths.js';
import { quietRuntime } from '../test/support/quiet.js';

export interface PipelineArgs {
  /** The policy server's replicas: the product's client spreads requests over them. */
  policyUrls: string[];
  evalUrl: string;
  prompts: number;
  samples: number;
  depth: number;
  maxTokens: number;
  /** Shard settings over the schema's defaults (shardSize, maxShards, maxShardsInFlight). */
  sharding: Partial<Pick<RunConfig, 'shardSize' | 'maxShards' | 'maxShardsInFlight'>>;
  maxConcurrency: number;
  /** Shard steps answer at once with manifests of the right size: for history sizes only. */
  stubShards: boolean;
  /** Iterations after iteration 0 (the demo config's when absent); from 2 on, a continue-as-new is timed. */
  iterations?: number;
  /** Shuts the worker down as the first sample step returns and starts a new one: the restart is timed. */
  restartAfterSample?: boolean;
}

export interface PipelineResult {
  wallMs: number;
  trainRows: number;
  /** How the training prompts were cut. */
  shards: { count: number; size: number };
  /** Per workflow run: its history's events and largest event (which carries the largest payload). */
  history: { run: HistorySize; iteration: HistorySize };
  /** Resident memory of this worker process: when the run started, sampled peak while it ran, lifetime peak. */
  startRssMb: number;
  peakRssMb: number;
  maxRssMb: number;
  /** Sampled peak of the V8 heap in use (garbage not yet collected included), for reading the RSS. */
  peakHeapMb: number;
  /** Peak of the heap in use just after a full collection: the live set. */
  peakLiveMb: number;
  /** CPU time (user + system) of this worker process over the run, µs. */
  cpuUs: number;
  handoffs: Handoffs;
  /** With restartAfterSample: ms from the sample step's return to the old worker stopped, then to the new one created. */
  restart?: { drainMs: number; createMs: number };
}

const args = JSON.parse(process.argv[2]!) as PipelineArgs;
quietRuntime();
const root = mkdtempSync(join(tmpdir(), 'evolve-bench-'));
const demo = loadConfigFile('deploy/demo/config.yaml');
const limits = { maxConcurrency: args.maxConcurrency, requestTimeoutMs: 300_000 };
const endpoint = (baseUrl: string): Endpoint => ({ baseUrl, ...limits });
const config: RunConfig = {
  ...demo,
  runId: 'bench',
  artifactRoot: root,
  iterations: args.iterations ?? demo.iterations,
  policy: { ...demo.policy, endpoint: { baseUrls: args.policyUrls, ...limits } },
  prompts: [{ kind: 'arithmetic', count: args.prompts, seed: 1, maxOperand: 99 }],
  ...defaultSharding(),
  ...args.sharding,
  sampling: { ...demo.sampling, samples: args.samples, chainDepth: args.depth, maxTokens: args.maxTokens },
  judge: { ...demo.judge, llm: { ...demo.judge.llm!, endpoint: endpoint(args.evalUrl) } },
  // Evaluation (iteration 0's too) goes to its own server: the policy fleet serves training generation only.
  evaluation: {
    ...demo.evaluation,
    prompts: { kind: 'arithmetic', count: 16, seed: 5, maxOperand: 99 },
    endpoint: endpoint(args.evalUrl),
  },
};

const stub = (uri: string, rows = 0): Manifest => ({
  uri,
  sha256: '0'.repeat(64),
  rows,
  bytes: 0,
  schema: 'pair',
  producedBy: { step: 'bench', runId: 'bench', iteration: 1 },
  stats: {},
  wallMs: 0,
});
const handoffs = handoffRecorder();
const real = createActivities(handoffs.deps(defaultDeps()));
let sampleReturned: (at: number) => void = () => undefined;
const firstSample = new Promise<number>((resolve) => (sampleReturned = resolve));
const timedSample = handoffs.step('sample', real.sampleShard);
const activities = {
  ...real,
  sampleShard: async (input: Parameters<typeof real.sampleShard>[0]) => {
    const made = await timedSample(input);
    // The restart falls between the training phase's steps, not iteration 0's evaluation.
    if (input.scope.dir.endsWith('/train/sample')) sampleReturned(performance.now());
    return made;
  },
  refineChain: handoffs.step('refine', real.refineChain),
  judgeShard: handoffs.step('judge', real.judgeShard),
  buildPairs: handoffs.pairs(real.buildPairs),
  submitTraining: async ({
    jobKey,
    scope,
  }: {
    jobKey: string;
    scope: { dir: string };
  }): Promise<TrainingJob> => ({
    jobKey,
    jobDir: scope.dir,
    outputDir: `${scope.dir}/out`,
    backend: 'local',
  }),
  awaitTraining: async (job: TrainingJob): Promise<Checkpoint> => ({
    path: job.outputDir,
    parent: '',
    metrics: {},
    wallMs: 0,
    jobKey: job.jobKey,
  }),
  // Evaluation goes to its own server, so the policy server's busy time is that of training generation.
  serveCheckpoint: async ({ model }: ModelRef): Promise<ModelRef> => ({
    endpoint: endpoint(args.evalUrl),
    model,
  }),
  ...(args.stubShards ? stubShardSteps() : {}),
};

function stubShardSteps() {
  type ShardInput = { scope: { dir: string }; shard: ShardRef; params: { samples: number } };
  const rows = (i: ShardInput, perChain: number) =>
    (i.shard.end - i.shard.start) * i.params.samples * perChain;
  const at = (i: { scope: { dir: string }; shard: ShardRef }) =>
    `${i.scope.dir}/shard-${i.shard.index}.jsonl`;
  return {
    sampleShard: async (i: ShardInput) => stub(at(i), rows(i, 1)),
    buildPairs: async ({ scope }: { scope: { dir: string } }) => stub(`${scope.dir}/pairs.jsonl`),
    refineChain: async (i: ShardInput & { chainDepth: number }) => stub(at(i), rows(i, i.chainDepth - 1)),
    judgeShard: async (i: { scope: { dir: string }; shard: ShardRef }) =>
      stub(at(i), i.shard.end - i.shard.start),
    summarizeEvaluation: async ({ scope }: { scope: { dir: string } }): Promise<EvalSummary> => ({
      uri: `${scope.dir}/evaluation.json`,
      prompts: 0,
      accuracy: [],
      wallMs: 0,
    }),
  };
}

const env = await TestWorkflowEnvironment.createLocal({
  server: {
    executable: { type: 'existing-path', path: requireInstalled(temporalCli) },
    searchAttributes: searchAttributeKeys,
    ui: false,
  },
});
try {
  // As the worker process does: bundled in a child process, so webpack's memory is not the worker's.
  const workflowBundle = await bundleWorkflowsApart();
  const newWorker = () =>
    Worker.create({
      connection: env.nativeConnection,
      taskQueue: 'bench',
      workflowBundle,
      activities,
      maxConcurrentActivityTaskExecutions: 16,
      shutdownGraceTime: SHUTDOWN_GRACE,
    });
  let worker = await newWorker();
  const startRss = process.memoryUsage().rss;
  let peakRss = startRss;
  let peakHeap = 0;
  const sampler = setInterval(() => {
    const { rss, heapUsed } = process.memoryUsage();
    peakRss = Math.max(peakRss, rss);
    peakHeap = Math.max(peakHeap, heapUsed);
  }, 100);
  let peakLive = 0;
  const stopGcWatch = afterFullGc((live) => (peakLive = Math.max(peakLive, live)));
  const started = performance.now();
  const cpu = process.cpuUsage();
  const run = await env.client.workflow.start('evolveRun', {
    taskQueue: 'bench',
    workflowId: 'bench',
    args: [config],
  });
  let restart: PipelineResult['restart'];
  if (args.restartAfterSample) {
    // A restart between steps: the old worker drains, then a new one starts. (A rolling deploy starts
    // the new one first; the SDK allows one worker per task queue in a process, so not here.)
    const returned = await worker.runUntil(Promise.race([firstSample, run.result().then(() => NaN)]));
    const stopped = performance.now();
    worker = await newWorker();
    restart = { drainMs: stopped - returned, createMs: performance.now() - stopped };
  }
  const result = await worker.runUntil(run.result());
  const wallMs = performance.now() - started;
  const cpuUsed = process.cpuUsage(cpu);
  clearInterval(sampler);
  stopGcWatch();
  const historyOf = (workflowId: string) => historySize(env.client.workflow.getHandle(workflowId));
  const shards = shardsOf({ rows: args.prompts } as Manifest, config.shardSize, config.maxShards);
  // Iteration 0 (evaluation of the initial policy) has no training steps.
  const trainRows = (result as { iterations: { steps: { step: string; rows: number }[] }[] }).iterations
    .flatMap((i) => i.steps)
    .filter((s) => s.step === 'train:sample' || s.step === 'train:refine')
    .reduce((n, s) => n + s.rows, 0);
  const out: PipelineResult = {
    wallMs,
    trainRows,
    shards: { count: shards.length, size: shards[0]!.end - shards[0]!.start },
    history: { run: await historyOf('bench'), iteration: await historyOf('bench/iter-1') },
    startRssMb: startRss / 2 ** 20,
    peakRssMb: peakRss / 2 ** 20,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    peakHeapMb: peakHeap / 2 ** 20,
    peakLiveMb: peakLive / 2 ** 20,
    cpuUs: cpuUsed.user + cpuUsed.system,
    handoffs: handoffs.result(),
    restart,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
} finally {
  await env.teardown();
  rmSync(root, { recursive: true, force: true });
}
