/**
 * Sections (e) and (f) of the generation benchmark: hand-offs across a worker restart and a
 * continue-as-new, and the fleet size one worker keeps busy.
 */
import type { FleetStats } from '../test/support/batching-fleet.js';
import type { Row } from './results-table.js';
import { pipelineRunner, type PipelineShape } from './run-pipeline.js';

export interface SectionContext {
  shape: PipelineShape;
  rows: Row[];
  summary: Record<string, unknown>;
  log: (line: string) => void;
}

/** Running sequences / (replicas x slots), from the first request to the last the fleet received. */
export const slotUseOf = (f: FleetStats, slots: number) =>
  f.slotSecondsToLastArrival / (slots * (f.lastArrival - f.firstArrival));

const ms = (x: number | null | undefined) => (x === null || x === undefined ? NaN : x);

/**
 * (e) One shard of `prompts` prompts, two iterations: as the training sample step returns, the
 * worker drains and stops and a new one starts; iteration 2 starts after
 * the run's continue-as-new. Each hand-off is timed from the last reply before it to the first
 * request after it.
 */
export async function restartRun({ shape, rows, summary, log }: SectionContext, prompts: number) {
  log(`(e) ${prompts} prompts in one shard, 2 iterations, a worker restart after the training sample step`);
  const { result } = await pipelineRunner(shape)(
    prompts,
    { batching: shape.fleet },
    { shardSize: prompts },
    { iterations: 2, restartAfterSample: true },
  );
  const restart = ms(result.handoffs.sampleToRefineByPhase['iter-1/train']?.[0]);
  const continued = ms(result.handoffs.continueAsNew);
  rows.push([
    '(e) hand-off sample -> refine across a worker restart (old drained, then a new one), ms',
    restart.toFixed(0),
    '<= 1000',
    restart <= 1000,
  ]);
  rows.push([
    '(e) its parts, ms: sample step returned -> old worker stopped / new worker created',
    `${ms(result.restart?.drainMs).toFixed(0)} / ${ms(result.restart?.createMs).toFixed(0)}`,
    '',
    null,
  ]);
  rows.push([
    '(e) hand-off iteration 1 -> 2 across continue-as-new (last reply -> first request), ms',
    continued.toFixed(0),
    '<= 1000',
    continued <= 1000,
  ]);
  Object.assign(summary, {
    restartHandoffMs: restart,
    restartPartsMs: result.restart,
    continueAsNewHandoffMs: continued,
  });
}

/**
 * (f) The same fleet with its clock run `scales` times faster: a fleet of replicas x scale H100s in
 * real time. Where slot use falls more than a point under the slowest scale's, one worker no longer
 * keeps up (on this machine, where the simulated fleet's own process shares the cores: its CPU is shown).
 */
export async function scalingRun(
  { shape, rows, summary, log }: SectionContext,
  prompts: number,
  shardSize: number,
  scales: number[],
) {
  const slots = shape.fleet.replicas * shape.fleet.slots;
  const points: Record<string, number>[] = [];
  for (const timeScale of scales) {
    const fleet = { ...shape.fleet, timeScale };
    const h100s = fleet.replicas * timeScale;
    log(
      `(f) ${h100s} H100s in real time (${fleet.replicas} replicas, time x${timeScale}), ${prompts} prompts`,
    );
    const { result, policy, fleetCpuS } = await pipelineRunner({ ...shape, fleet })(
      prompts,
      { batching: fleet },
      { shardSize, maxShardsInFlight: 4 },
    );
    const f = policy.fleet!;
    const slotUse = slotUseOf(f, slots);
    const wallS = result.wallMs / 1000;
    const point = {
      h100s,
      timeScale,
      slotUse,
      requestsPerS: f.requests / ((f.lastFinish - f.firstArrival) / timeScale),
      workerCores: result.cpuUs / 1e6 / wallS,
      fleetCores: fleetCpuS / wallS,
    };
    points.push(point);
    rows.push([
      `(f) ${h100s} H100s (x${timeScale}): slot use; req/s; CPU cores used by worker / simulated fleet`,
      `${slotUse.toFixed(3)}; ${point.requestsPerS.toFixed(0)}; ${point.workerCores.toFixed(2)} / ${point.fleetCores.toFixed(2)}`,
      '',
      null,
    ]);
  }
  // A short run loses slot use to its ramp-up and last shards whatever the worker does: the first
  // (slowest) scale is the baseline, and a worker keeps up while it loses at most a point more.
  const baseline = points[0]!.slotUse!;
  const keepsUp = (p: Record<string, number>) => p.slotUse! >= baseline - 0.01;
  const largest = Math.max(...points.filter(keepsUp).map((p) => p.h100s!));
  const fellAt = points.find((p) => !keepsUp(p))?.h100s ?? null;
  rows.push([
    `(f) largest fleet one worker kept within 0.01 of the x${scales[0]} slot use / first it did not, H100s`,
    `${largest} / ${fellAt ?? `none up to ${Math.max(...scales) * shape.fleet.replicas}`}`,
    '',
    null,
  ]);
  Object.assign(summary, {
    scaling: points,
    workerKeepsUpToH100s: largest,
    workerFallsBehindAtH100s: fellAt,
  });
}
