/**
 * `npm run bench:generation [-- --prompts 10000 --large 100000 --depth 4 --shard-size 500 --quick]`:
 * how well generation keeps an inference server busy. Prints one table:
 *  (a) requests/s and client CPU per request of the activity code path (sampleShard + refineChain:
 *      client, journal, manifests) against a bare `openai` client loop at the same concurrency, both
 *      in an activity context, on an instant-reply server (`--throughput-prompts`);
 *  (b) the share of wall time a simulated GPU-bound server is busy during sample + refine of
 *      `--prompts` prompts x K=`--depth`, through a Temporal dev server and a real worker;
 *  (c) the worker's resident memory in (b) and in the same pipeline at `--large` prompts;
 *  (d) Temporal history events and the largest event (payload included) per workflow run for
 *      `--events-prompts` prompts with the default shard settings, shard steps stubbed.
 * `--shard-size` is the least shard size of (b) and (c); `maxShards` (the default) may grow it.
 * `--sections abcd` picks sections. Every server runs in its own process, so client and server do
 * not share an event loop.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import OpenAI from 'openai';
import { writeJsonlWithManifest } from '../storage/jsonl-writer.js';
import { createGenerationActivities } from '../activities/generate.js';
import { openAIChat } from '../activities/inference.js';
import { arithmeticProblems } from '../core/arithmetic.js';
import { mapLimit } from '../core/concurrency.js';
import type { Endpoint } from '../core/config.js';
import type { Manifest } from '../core/records.js';
import { shardsOf } from '../core/shards.js';
import type { PipelineArgs, PipelineResult } from './pipeline.js';
import { workerHeapFlags } from '../workers/heap.js';
import { runChild, startFakeProcess } from './processes.js';

const { values } = parseArgs({
  options: {
    prompts: { type: 'string', default: '10000' },
    large: { type: 'string', default: '100000' },
    depth: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '64' },
    'shard-size': { type: 'string', default: '500' },
    'throughput-prompts': { type: 'string', default: '2000' },
    'events-prompts': { type: 'string', default: '100000' },
    'time-scale': { type: 'string', default: '64' },
    sections: { type: 'string', default: 'abcd' },
    quick: { type: 'boolean', default: false },
  },
});
const int = (name: keyof typeof values) => Number.parseInt(String(values[name]), 10);
const quick = values.quick;
const prompts = quick ? 500 : int('prompts');
const large = quick ? 0 : int('large');
const eventsPrompts = int('events-prompts');
const depth = int('depth');
const concurrency = int('concurrency');
const shardSize = int('shard-size');
const throughputPrompts = quick ? 500 : int('throughput-prompts');
const shardsInFlight = 4;
const run = (section: string) => String(values.sections).includes(section);

/**
 * A simulated GPU: 64 sequences at once, 2,560 tokens/s in all, 256-token replies (6.4 s each), its
 * clock run `--time-scale` times faster; scale it down where the client's CPU would be the bottleneck.
 */
const gpu = { slots: 64, tokensPerSecond: 2560, completionTokens: 256, timeScale: int('time-scale') };

const rows: [string, string, string][] = [];
const log = (line: string) => process.stderr.write(`${line}\n`);

async function promptShards(dir: string, count: number): Promise<Manifest> {
  return writeJsonlWithManifest(join(dir, 'prompts.jsonl'), 'prompt', arithmeticProblems(count, 1, 99), {
    step: 'prompts',
    runId: 'bench',
    iteration: 1,
  });
}

interface Rate {
  perS: number;
  cpuUsPer: number;
}
const none: Rate = { perS: 0, cpuUsPer: Infinity };
const better = (a: Rate, b: Rate): Rate => ({
  perS: Math.max(a.perS, b.perS),
  cpuUsPer: Math.min(a.cpuUsPer, b.cpuUsPer),
});
const show = (r: Rate) => `${r.perS.toFixed(0)} req/s, ${r.cpuUsPer.toFixed(0)} µs CPU/req`;

/** Wall time and this process's CPU time (user + system) over a number of requests. */
function startClock() {
  const wall = performance.now();
  const cpu = process.cpuUsage();
  return {
    stop(requests: number): Rate {
      const used = process.cpuUsage(cpu);
      return {
        perS: requests / ((performance.now() - wall) / 1000),
        cpuUsPer: (used.user + used.system) / requests,
      };
    },
  };
}

/** (a) The activity path vs a bare client against an instant server at the same concurrency. */
async function throughput(): Promise<void> {
  const server = await startFakeProcess({});
  const requests = throughputPrompts * depth;
  // The bare loop runs as an activity too, so both pay for the activity context (its AsyncLocalStorage
  // turns on promise hooks for the whole process) and the ratio is the cost of the orchestration alone.
  const bare = (): Promise<Rate> => new MockActivityEnvironment().run(bareLoop);
  const bareLoop = async () => {
    const client = new OpenAI({ baseURL: server.baseUrl, apiKey: 'x', maxRetries: 0 });
    const clock = startClock();
    await mapLimit(
      Array.from({ length: requests }, (_, i) => i),
      concurrency,
      (seed) =>
        client.chat.completions.create({
          model: 'm',
          messages: [{ role: 'user', content: 'What is 12 more than 30?' }],
          temperature: 1,
          max_tokens: 32,
          seed,
        }),
    );
    return clock.stop(requests);
  };
  const orchestrated = async () => {
    const dir = mkdtempSync(join(tmpdir(), 'evolve-bench-'));
    const manifest = await promptShards(dir, throughputPrompts);
    const ep: Endpoint = { baseUrl: server.baseUrl, maxConcurrency: concurrency, requestTimeoutMs: 60_000 };
    const chat = openAIChat(ep);
    const activities = createGenerationActivities({ chatFor: () => chat });
    const shards = shardsOf(manifest, 64);
    const params = { samples: 1, temperature: 1, topP: 1, maxTokens: 32, seed: 1 };
    const scope = (step: string) => ({
      runId: 'bench',
      iteration: 1,
      dir: join(dir, step),
      indexes: [join(dir, 'cas')],
    });
    const clock = startClock();
    await mapLimit(shards, shardsInFlight, async (shard) => {
      const env = new MockActivityEnvironment();
      const base = { shard, policy: { endpoint: ep, model: 'm' }, params };
      const answers: Manifest = await env.run(activities.sampleShard, { ...base, scope: scope('sample') });
      await env.run(activities.refineChain, {
        ...base,
        scope: scope('refine'),
        answers,
        chainDepth: depth,
        refinement: { template: 'multi-turn' as const, instruction: 'Improve your answer.' },
      });
    });
    const rate = clock.stop(requests);
    rmSync(dir, { recursive: true, force: true });
    return rate;
  };
  try {
    // Best of two rounds each, alternating. On a busy machine wall time mostly measures the other
    // processes; the client's own CPU time per request is the steadier figure.
    const best = { bare: none, orchestrated: none };
    for (let round = 0; round < 2; round++) {
      best.bare = better(best.bare, await bare());
      best.orchestrated = better(best.orchestrated, await orchestrated());
      log(`(a) round ${round + 1}: bare ${show(best.bare)}; activities ${show(best.orchestrated)}`);
    }
    const label = `${requests} requests, concurrency ${concurrency}`;
    rows.push([`(a) bare openai loop (${label})`, show(best.bare), '']);
    rows.push([`(a) sampleShard+refineChain (${label})`, show(best.orchestrated), '']);
    rows.push([
      '(a) ratio activities / bare, req/s',
      (best.orchestrated.perS / best.bare.perS).toFixed(2),
      '>= 0.90',
    ]);
    rows.push([
      '(a) ratio bare / activities, client CPU per request',
      (best.bare.cpuUsPer / best.orchestrated.cpuUsPer).toFixed(2),
      '>= 0.90',
    ]);
  } finally {
    server.stop();
  }
}

async function pipeline(
  count: number,
  policyPlan: object,
  sharding: PipelineArgs['sharding'],
  stubShards = false,
) {
  const policy = await startFakeProcess(policyPlan);
  const evaluation = await startFakeProcess({});
  try {
    const args: PipelineArgs = {
      policyUrl: policy.baseUrl,
      evalUrl: evaluation.baseUrl,
      prompts: count,
      samples: 1,
      depth,
      sharding,
      // Twice the server's slots: its queue never runs dry while a shard changes step.
      maxConcurrency: 2 * gpu.slots,
      stubShards,
    };
    // With the worker process's node flags, so its memory is the worker's.
    const result = await runChild<PipelineResult>('./pipeline.ts', args, workerHeapFlags()).first;
    return { result, stats: await policy.stats() };
  } finally {
    policy.stop();
    evaluation.stop();
  }
}

const cut = (r: PipelineResult) => `${r.shards.count} shards of ${r.shards.size}`;
const rss = (r: PipelineResult) => `${r.startRssMb.toFixed(0)} / ${r.peakRssMb.toFixed(0)}`;
const heapRow = (r: PipelineResult): [string, string, string] => [
  '(c) worker V8 heap MB: live after full GC / in use incl. garbage, peaks',
  `${r.peakLiveMb.toFixed(0)} / ${r.peakHeapMb.toFixed(0)}`,
  '',
];
const seconds = (ms: number) => (ms / 1000).toFixed(1);

async function main() {
  if (run('a')) {
    log(`(a) instant server, ${throughputPrompts} prompts x K=${depth}`);
    await throughput();
  }

  const label = (n: number) => `${n} prompts x K=${depth}`;
  const sharding = { shardSize, maxShardsInFlight: shardsInFlight };
  if (run('b')) {
    log(`(b) simulated GPU server, ${label(prompts)}, shards of at least ${shardSize}`);
    const { result: run, stats } = await pipeline(prompts, { gpu }, sharding);
    rows.push([
      `(b) wall s, generations written (${label(prompts)}, ${cut(run)})`,
      `${seconds(run.wallMs)}, ${run.trainRows}`,
      `${prompts * depth} rows`,
    ]);
    rows.push([
      '(b) GPU-sim server busy share of sample+refine wall',
      (stats.busyMs / stats.spanMs).toFixed(3),
      '>= 0.97',
    ]);
    rows.push([
      `(b) GPU-sim slot utilisation (${gpu.slots} slots)`,
      (stats.slotMs / (gpu.slots * stats.spanMs)).toFixed(3),
      '',
    ]);
    rows.push([`(c) worker RSS MB at start / peak, ${prompts} prompts`, rss(run), '<= 512, flat']);
    rows.push(heapRow(run));
  }

  if (run('c') && large > 0) {
    log(`(c) instant server, ${label(large)}, shards of at least ${shardSize}`);
    const { result } = await pipeline(large, {}, sharding);
    rows.push([
      `(c) worker RSS MB at start / peak, ${large} prompts, ${cut(result)} (wall ${seconds(result.wallMs)} s)`,
      rss(result),
      '<= 512, flat',
    ]);
    rows.push(['(c) worker lifetime max RSS MB', result.maxRssMb.toFixed(0), '']);
    rows.push(heapRow(result));
  }

  if (run('d')) {
    log(`(d) shard steps stubbed, ${label(eventsPrompts)}, default shard settings`);
    const { result } = await pipeline(eventsPrompts, {}, {}, true);
    const { run, iteration } = result.history;
    rows.push([
      `(d) history events, iteration run (${label(eventsPrompts)}, default: ${cut(result)})`,
      String(iteration.events),
      '<= 2000',
    ]);
    rows.push(['(d) history events, parent run', String(run.events), '<= 2000']);
    rows.push([
      '(d) largest history event (its payload included), KiB',
      (Math.max(run.largestEventBytes, iteration.largestEventBytes) / 1024).toFixed(1),
      '<< 2048 (payload limit)',
    ]);
    // What grows with the prompt count besides the per-shard work: prompt file, row offsets, workflow state.
    rows.push([
      `(c) worker RSS MB at start / peak, ${eventsPrompts} prompts, shard steps stubbed`,
      rss(result),
      '<= 512, flat',
    ]);
  }

  const heads = ['measure', 'value', 'target'];
  const width = heads.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(width[i]!)).join(' | ')} |`;
  console.log(line(heads));
  console.log(`|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

await main();
