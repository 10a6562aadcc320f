import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { EvolveStatus } from '../core/search-attributes.js';
import type { KeptBest, StepReport } from '../core/steps.js';
import type { SuiteSummary } from '../core/suites.js';

/** Steering a long run; the Temporal CLI sends the same names (`temporal workflow signal --name pause`). */
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const stopAfterIterationSignal = defineSignal('stopAfterIteration');

export interface RunStatus {
  status: EvolveStatus;
  iteration: number;
  iterations: number;
  policyModel: string;
  paused: boolean;
  stopRequested: boolean;
  configHash: string;
  /** Config updates accepted during this execution; they apply from the next iteration. */
  pendingChanges: string[];
  /** Once the run has ended: the accepted updates no iteration applied (RunResult.unapplied). */
  unappliedChanges?: string[];
  /**
   * Each finished iteration's evaluation accuracy (direct, refine@1..), iteration 0 (the initial policy)
   * first when it was evaluated; absent in workflows started before it was reported.
   */
  evaluated?: { iteration: number; accuracy: number[] }[];
  /** Set while the running iteration started from a kept best checkpoint (evaluation.keepBest). */
  keptBest?: KeptBest;
}
export const runStatusQuery = defineQuery<RunStatus>('status');

export interface ConfigUpdateResult {
  /** Key paths that changed. */
  changed: string[];
  /** The first iteration that runs with the new config. */
  appliesFromIteration: number;
}

/**
 * Changes the config of the iterations not yet started: the argument holds only the keys to change
 * (objects merge, lists replace). The validator rejects a bad one, naming the key, before it is recorded.
 */
export const updateConfigUpdate = defineUpdate<ConfigUpdateResult, [unknown]>('updateConfig');

export interface IterationProgress {
  iteration: number;
  step: string;
  paused: boolean;
  shardsDone: number;
  shards: number;
  steps: StepReport[];
  /** The benchmark suites scored so far in this iteration (absent in workflows started before suites). */
  suites?: SuiteSummary[];
}
export const iterationProgressQuery = defineQuery<IterationProgress>('progress');
