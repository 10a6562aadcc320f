import type { BatchingSpec } from '../test/support/batching-fleet.js';
import type { FaultPlan } from '../test/support/fake-openai.js';
import { workerHeapFlags } from '../core/worker-heap.js';
import type { PipelineArgs, PipelineResult } from './pipeline.js';
import { runChild, startFakeProcess } from './processes.js';
import { cpuSeconds, watchMemory } from './proc-memory.js';

/** What every pipeline run of the benchmark shares: the chains' shape and the fleet. */
export interface PipelineShape {
  depth: number;
  maxTokens: number;
  fleet: BatchingSpec;
}

/**
 * One iteration (or more) through a dev server and a real worker in a child process (pipeline.ts),
 * its memory read from /proc meanwhile; the policy fleet and the evaluation server in processes of their own.
 */
export const pipelineRunner =
  (shape: PipelineShape) =>
  async (
    count: number,
    policyPlan: FaultPlan,
    sharding: PipelineArgs['sharding'],
    options: Partial<Pick<PipelineArgs, 'stubShards' | 'iterations' | 'restartAfterSample'>> = {},
  ) => {
    const policy = await startFakeProcess(policyPlan);
    const evaluation = await startFakeProcess({});
    try {
      const fleetCpuAtStart = cpuSeconds(policy.pid);
      const args: PipelineArgs = {
        policyUrls: policy.baseUrls,
        evalUrl: evaluation.baseUrl,
        prompts: count,
        samples: 1,
        depth: shape.depth,
        maxTokens: shape.maxTokens,
        sharding,
        // Twice the fleet's slots, up to the schema's limit: its queues never run dry while a shard
        // changes step.
        maxConcurrency: Math.min(1024, 2 * shape.fleet.replicas * shape.fleet.slots),
        stubShards: false,
        ...options,
      };
      // With the worker process's node flags, so its memory is the worker's.
      const { child, first } = runChild<PipelineResult>('./pipeline.ts', args, workerHeapFlags());
      const watch = watchMemory(child.pid!);
      const result = await first.catch((err: Error) => {
        // A worker past its heap cap dies: say how far its memory got.
        throw new Error(`${err.message}; its resident peak was ${watch.stop().peakRssMb.toFixed(0)} MB`);
      });
      return {
        result,
        memory: watch.stop(),
        policy: await policy.stats(),
        evaluation: await evaluation.stats(),
        /** CPU seconds the simulated fleet's process used meanwhile: on a small machine it competes with the worker. */
        fleetCpuS: cpuSeconds(policy.pid) - fleetCpuAtStart,
      };
    } finally {
      policy.stop();
      evaluation.stop();
    }
  };
