/**
 * `npm run bench:generation [-- --quick --json FILE --sections abcdef ...]`: whether generation keeps a
 * realistic inference fleet busy, and what it costs. Prints a table of targets with PASS / FAIL (the
 * exit code is 1 when one fails), then, as the last line, one JSON object with every figure.
 *  (a) requests/s and CPU per request of the activity path (sampleShard + refineChain) against a plain
 *      `openai` loop with no activity context, on an instant server: `--rounds` rounds after a warm-up
 *      round, the order alternating, each side a fresh process pinned to CPU 0 and the server to CPU 1;
 *      the median of the per-round ratios with a distribution-free 95 % interval;
 *  (b) slot use of a simulated vLLM fleet (`--replicas` x `--slots`, lognormal answers of median
 *      `--answer-tokens`) during sample + refine of `--prompts` prompts x K=`--depth`, through a
 *      Temporal dev server and a real worker; per-shard step hand-offs; worker CPU per request;
 *  (c) the worker's memory (from /proc) in (b) and at `--large` prompts against the same fleet with
 *      its clock run fast, answers of `--answer-tokens` tokens each;
 *  (d) Temporal history events and the largest event per workflow run for `--events-prompts` prompts
 *      with the default shard settings, shard steps stubbed;
 *  (e) the hand-off across a worker restart and across the run's continue-as-new (`--restart-prompts`);
 *  (f) slot use as the fleet grows (`--scales`: its clock run faster), with `--scaling-prompts` each:
 *      where one worker stops keeping up.
 * Every server runs in its own process, so client and server do not share an event loop.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { percentile } from '../core/metrics/bootstrap.js';
import type { Manifest } from '../core/records.js';
import { shardsOf } from '../core/shards.js';
import { defaultSharding } from '../test/support/config.js';
import type { BatchingSpec } from '../test/support/batching-fleet.js';
import { workerHeapFlags } from '../core/worker-heap.js';
import { medianInterval } from './median-interval.js';
import type { PipelineResult } from './pipeline.js';
import { pipelineRunner } from './run-pipeline.js';
import { markdownTable, type Row } from './results-table.js';
import { restartRun, scalingRun, slotUseOf } from './scaling.js';
import { canPin, runChild, startFakeProcess } from './processes.js';
import type { Rate, ThroughputArgs } from './throughput-client.js';

const { values } = parseArgs({
  options: {
    prompts: { type: 'string', default: '10000' },
    large: { type: 'string', default: '100000' },
    depth: { type: 'string', default: '4' },
    'shard-size': { type: 'string', default: '500' },
    replicas: { type: 'string', default: '8' },
    slots: { type: 'string', default: '64' },
    'answer-tokens': { type: 'string', default: '2048' },
    'time-scale': { type: 'string', default: '8' },
    'throughput-prompts': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '10' },
    'events-prompts': { type: 'string', default: '100000' },
    'restart-prompts': { type: 'string', default: '500' },
    'scaling-prompts': { type: 'string', default: '4000' },
    scales: { type: 'string', default: '8,16,32,48,64' },
    sections: { type: 'string', default: 'abcdef' },
    json: { type: 'string' },
    'cpu-prof': { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const int = (name: keyof typeof values, quickValue?: number) =>
  values.quick && quickValue !== undefined ? quickValue : Number.parseInt(String(values[name]), 10);
const prompts = int('prompts', 1000);
const large = int('large', 0);
const depth = int('depth');
const shardSize = int('shard-size', 250);
const throughputPrompts = int('throughput-prompts', 200);
const concurrency = int('concurrency');
const rounds = int('rounds');
const eventsPrompts = int('events-prompts');
const run = (section: string) => String(values.sections).includes(section);
const scales = (values.quick ? '16,64' : String(values.scales)).split(',').map(Number);
const loadAtStart = loadavg()[0];

/**
 * One replica is vLLM serving an 8B model on one H100: about 5,000 output tokens/s with its batch full
 * (vLLM's published throughput), shared by up to 64 running sequences (--max-num-seqs), one sequence
 * at most 150 tokens/s (a decode step reads the 16 GB of bf16 weights at 3.35 TB/s: at most ~200
 * steps/s, ~150 in practice): below 34 running sequences a replica leaves budget unused. Prefill: 2 x 8e9
 * FLOPs per prompt token at ~400 TFLOP/s effective bf16 is about 25,000 tokens/s. Answers are
 * lognormal (median `--answer-tokens`, log-sd 0.5, 8 % reach max_tokens at twice the median), 4
 * characters a token. Simulated seconds are real seconds of that hardware; `--time-scale` runs them
 * faster, low enough that the worker's CPU is not what limits the fleet.
 */
const answerTokens = int('answer-tokens');
const fleet: BatchingSpec = {
  replicas: int('replicas', 2),
  slots: int('slots'),
  tokensPerSecond: 5000,
  maxSequenceTokensPerSecond: 150,
  prefillTokensPerSecond: 25_000,
  medianTokens: answerTokens,
  sigma: 0.5,
  charsPerToken: 4,
  timeScale: int('time-scale', 16),
};
const maxTokens = 2 * answerTokens;

const rows: Row[] = [];
const summary: Record<string, unknown> = {};
const log = (line: string) => process.stderr.write(`${line}\n`);
const fixed = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

/** (a) The activity path against a plain openai loop, alternating, in fresh pinned processes. */
async function throughput(): Promise<void> {
  const server = await startFakeProcess({}, '1');
  const side = (mode: ThroughputArgs['mode'], profile: boolean) => {
    const args: ThroughputArgs = {
      mode,
      baseUrl: server.baseUrl,
      prompts: throughputPrompts,
      depth,
      concurrency,
    };
    const flags = profile && values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];
    return runChild<Rate>('./throughput-client.ts', args, flags, '0').first;
  };
  try {
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    const rates: { bare: Rate; activities: Rate }[] = [];
    // Round 0 warms the server (and the disk cache) and is not counted.
    for (let round = 0; round <= rounds; round++) {
      const order = round % 2 === 0 ? (['bare', 'activities'] as const) : (['activities', 'bare'] as const);
      const got: Partial<Record<ThroughputArgs['mode'], Rate>> = {};
      for (const mode of order) got[mode] = await side(mode, round === rounds);
      const { bare, activities } = got as { bare: Rate; activities: Rate };
      log(
        `(a) round ${round}${round === 0 ? ' (warm-up)' : ''}: bare ${bare.perS.toFixed(0)} req/s ` +
          `${bare.cpuUsPer.toFixed(0)} µs/req; activities ${activities.perS.toFixed(0)} req/s ` +
          `${activities.cpuUsPer.toFixed(0)} µs/req`,
      );
      if (round === 0) continue;
      rates.push({ bare, activities });
      ratios.push(activities.perS / bare.perS);
      cpuRatios.push(bare.cpuUsPer / activities.cpuUsPer);
    }
    const ratio = medianInterval(ratios);
    const cpu = medianInterval(cpuRatios);
    const median = (pick: (r: { bare: Rate; activities: Rate }) => number) => percentile(rates.map(pick), 50);
    const label = `${throughputPrompts * depth} requests, concurrency ${concurrency}, ${rounds} rounds`;
    rows.push([
      `(a) plain openai loop, median (${label})`,
      `${median((r) => r.bare.perS).toFixed(0)} req/s, ${median((r) => r.bare.cpuUsPer).toFixed(0)} µs CPU/req`,
      '',
      null,
    ]);
    rows.push([
      '(a) sampleShard + refineChain, median',
      `${median((r) => r.activities.perS).toFixed(0)} req/s, ${median((r) => r.activities.cpuUsPer).toFixed(0)} µs CPU/req`,
      '',
      null,
    ]);
    const ci = (m: typeof ratio) => `${fixed(m.median)} (95 % CI ${fixed(m.low)}-${fixed(m.high)})`;
    rows.push([
      '(a) req/s ratio activities / plain, median of rounds',
      ci(ratio),
      '>= 0.90',
      ratio.median >= 0.9,
    ]);
    rows.push(['(a) CPU/req ratio plain / activities, median of rounds', ci(cpu), '', null]);
    Object.assign(summary, {
      ratioMedian: ratio.median,
      ratioCi95: [ratio.low, ratio.high],
      ratioCoverage: ratio.coverage,
      ratios,
      cpuRatioMedian: cpu.median,
      cpuRatioCi95: [cpu.low, cpu.high],
      pinned: canPin,
    });
  } finally {
    server.stop();
  }
}

const shape = { depth, maxTokens, fleet };
const pipeline = pipelineRunner(shape);

const cut = (r: PipelineResult) => `${r.shards.count} shards of ${r.shards.size}`;
const label = (n: number) => `${n} prompts x K=${depth}`;
const p95 = (xs: number[]) => (xs.length > 0 ? percentile(xs, 95) : NaN);
const hours = (s: number) => `${(s / 3600).toFixed(2)} h`;

/** (b) The realistic fleet: slot use, hand-offs, worker CPU, memory. */
async function fleetRun(): Promise<void> {
  const shape = `${fleet.replicas} x ${fleet.slots} slots`;
  log(
    `(b) simulated fleet ${shape}, ${label(prompts)}, shards of at least ${shardSize}, time x${fleet.timeScale}`,
  );
  const sharding = { shardSize, maxShardsInFlight: 4 };
  const { result, memory, policy, evaluation } = await pipeline(prompts, { batching: fleet }, sharding);
  const f = policy.fleet!;
  const slots = fleet.replicas * fleet.slots;
  const slotUse = slotUseOf(f, slots);
  const slotUseToEnd = f.slotSeconds / (slots * (f.lastFinish - f.firstArrival));
  const h = result.handoffs;
  const handoffP95Ms = p95(h.sampleToRefine);
  // `served` counts one replica's replies; the fleet counts all of them.
  const requests = f.requests + evaluation.served;
  const cpuUsPerRequest = result.cpuUs / requests;
  rows.push([
    `(b) fleet ${shape}: ${label(prompts)}, ${cut(result)}, ${f.requests} requests`,
    `${result.trainRows} rows; ${hours(f.lastFinish - f.firstArrival)} simulated in ${(result.wallMs / 1000).toFixed(0)} s (x${fleet.timeScale})`,
    `${prompts * depth} rows`,
    result.trainRows === prompts * depth,
  ]);
  rows.push([
    '(b) output tokens / request (mean), capped at max_tokens',
    `${(f.outputTokens / f.requests).toFixed(0)}, ${((100 * f.capped) / f.requests).toFixed(1)} % at ${maxTokens}`,
    '',
    null,
  ]);
  rows.push(['(b) slot use, first request to last request', fixed(slotUse, 3), '>= 0.97', slotUse >= 0.97]);
  rows.push(['(b) slot use, first request to last reply (drain included)', fixed(slotUseToEnd, 3), '', null]);
  rows.push([
    `(b) hand-off sample -> refine per shard, p95 / max ms (${h.sampleToRefine.length} shards)`,
    `${fixed(handoffP95Ms, 0)} / ${fixed(Math.max(...h.sampleToRefine), 0)}`,
    '<= 1000',
    handoffP95Ms <= 1000,
  ]);
  rows.push([
    '(b) its parts, p95 ms: last reply -> return / -> next start (Temporal) / -> first request',
    [h.sampleFinish, h.sampleDispatch, h.refineSetup].map((xs) => fixed(p95(xs), 0)).join(' / '),
    '',
    null,
  ]);
  rows.push([
    '(b) hand-off refine -> judge per shard, p95 ms',
    fixed(p95(h.refineToJudge), 0),
    '<= 1000',
    p95(h.refineToJudge) <= 1000,
  ]);
  rows.push([
    '(b) hand-off last judge -> pair step, ms',
    fixed(h.judgeToPair ?? NaN, 0),
    '<= 1000',
    (h.judgeToPair ?? Infinity) <= 1000,
  ]);
  rows.push([
    `(b) worker CPU per request (${requests} requests, whole process)`,
    `${cpuUsPerRequest.toFixed(0)} µs`,
    '',
    null,
  ]);
  rows.push([
    `(c) worker RSS MB at start / peak (/proc VmHWM), ${label(prompts)}`,
    `${result.startRssMb.toFixed(0)} / ${memory.peakRssMb.toFixed(0)}`,
    '<= 512',
    memory.peakRssMb <= 512,
  ]);
  rows.push(['(c) worker live heap after full GC, peak MB', result.peakLiveMb.toFixed(0), '', null]);
  Object.assign(summary, {
    slotUse,
    slotUseToEnd,
    handoffP95Ms,
    handoffMaxMs: Math.max(...h.sampleToRefine),
    handoffPartsP95Ms: {
      finish: p95(h.sampleFinish),
      dispatch: p95(h.sampleDispatch),
      setup: p95(h.refineSetup),
    },
    refineToJudgeP95Ms: p95(h.refineToJudge),
    judgeToPairMs: h.judgeToPair,
    workerCpuUsPerRequest: cpuUsPerRequest,
    fleet: { ...fleet, stats: f, simulatedHours: (f.lastFinish - f.firstArrival) / 3600 },
    wallS: result.wallMs / 1000,
    workerRssMb: { start: result.startRssMb, peak: memory.peakRssMb, liveHeapPeak: result.peakLiveMb },
  });
}

/**
 * (c) The worker's memory peak of a `large`-prompt run. What a shard step holds (its chains under way;
 * its rows are on disk) peaks with the shards in flight: at `large` prompts the default settings cut
 * shards of large / maxShards prompts, maxShardsInFlight at a time. This runs exactly that many such shards (all
 * in flight at once) against the fleet with its clock run fast, every answer `answerTokens` long; what
 * grows with the prompt count itself (prompt file, workflow state) is (d)'s memory row, at full count.
 */
async function memoryRun(): Promise<void> {
  const defaults = defaultSharding();
  const size = shardsOf({ rows: large } as Manifest, defaults.shardSize, defaults.maxShards)[0]!.end;
  const count = size * defaults.maxShardsInFlight;
  log(
    `(c) fast fleet, ${label(count)} (the shards in flight at ${large}), answers of ${answerTokens} tokens`,
  );
  const fast = { ...fleet, sigma: 0, timeScale: 10_000 };
  // The target is to finish under the cap in force (EVOLVE_WORKER_HEAP_MB): past it the worker dies,
  // and so would every restart on the same shards. Resident memory follows the cap, so it is shown only.
  const capMb = Number(workerHeapFlags()[0]!.split('=')[1]);
  const what = `(c) ${large} prompts (shards of ${size}, ${defaults.maxShardsInFlight} in flight), ${(answerTokens * fleet.charsPerToken) / 1024} KiB answers: worker RSS MB at start / peak (/proc VmHWM)`;
  const target = `finishes under a ${capMb} MB heap cap`;
  const ran = await pipeline(count, { batching: fast }, { shardSize: size }).catch((err: Error) => err);
  if (ran instanceof Error) {
    rows.push([what, `died: ${ran.message}`, target, false]);
    summary.largeRssMb = { prompts: large, ran: count, heapCapMb: capMb, error: ran.message };
    return;
  }
  const { result, memory } = ran;
  rows.push([what, `${result.startRssMb.toFixed(0)} / ${memory.peakRssMb.toFixed(0)}`, target, true]);
  rows.push(['(c) same, live heap after full GC, peak MB', result.peakLiveMb.toFixed(0), '', null]);
  summary.largeRssMb = {
    prompts: large,
    ran: count,
    heapCapMb: capMb,
    start: result.startRssMb,
    peak: memory.peakRssMb,
    liveHeapPeak: result.peakLiveMb,
  };
}

/** (d) History size with real manifests and the default shard settings, shard steps stubbed. */
async function historyRun(): Promise<void> {
  log(`(d) shard steps stubbed, ${label(eventsPrompts)}, default shard settings`);
  const { result, memory } = await pipeline(eventsPrompts, {}, {}, { stubShards: true });
  const { run, iteration } = result.history;
  const largestKiB = Math.max(run.largestEventBytes, iteration.largestEventBytes) / 1024;
  rows.push([
    `(d) history events, iteration run (${label(eventsPrompts)}, ${cut(result)})`,
    String(iteration.events),
    '<= 2000',
    iteration.events <= 2000,
  ]);
  rows.push(['(d) history events, parent run', String(run.events), '<= 2000', run.events <= 2000]);
  rows.push([
    '(d) largest history event (its payload included), KiB',
    largestKiB.toFixed(1),
    '<= 256',
    largestKiB <= 256,
  ]);
  // What grows with the prompt count besides the per-shard work: prompt file, row offsets, workflow state.
  rows.push([
    `(c) worker RSS MB at start / peak (/proc VmHWM), ${eventsPrompts} prompts, shard steps stubbed`,
    `${result.startRssMb.toFixed(0)} / ${memory.peakRssMb.toFixed(0)}`,
    '<= 512',
    memory.peakRssMb <= 512,
  ]);
  Object.assign(summary, {
    stubbedRssMb: { prompts: eventsPrompts, start: result.startRssMb, peak: memory.peakRssMb },
    eventsPer100k: (iteration.events * 100_000) / eventsPrompts,
    eventsPrompts,
    parentEvents: run.events,
    largestEventKiB: largestKiB,
  });
}

async function main(): Promise<number> {
  if (run('a')) {
    log(
      `(a) instant server, ${throughputPrompts} prompts x K=${depth}, ${rounds} rounds${canPin ? ', pinned' : ''}`,
    );
    await throughput();
  }
  if (run('b')) await fleetRun();
  if (run('c') && large > 0) await memoryRun();
  if (run('d')) await historyRun();
  const ctx = { shape, rows, summary, log };
  if (run('e')) await restartRun(ctx, int('restart-prompts', 200));
  if (run('f')) await scalingRun(ctx, int('scaling-prompts', 1000), shardSize, scales);

  console.log(markdownTable(rows));
  const failed = rows.filter((r) => r[3] === false).map((r) => r[0]);
  const out = {
    ...summary,
    failed,
    quick: values.quick,
    argv: process.argv.slice(2),
    finishedAt: new Date().toISOString(),
    /** One-minute load averages when the benchmark started and ended: what else the cores were doing. */
    load: [loadAtStart, loadavg()[0]],
    table: rows,
  };
  if (values.json) writeFileSync(values.json, JSON.stringify(out, null, 2) + '\n');
  console.log(JSON.stringify(out));
  return failed.length > 0 ? 1 : 0;
}

process.exitCode = await main();
