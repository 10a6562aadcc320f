import { defineQuery, defineSignal } from '@temporalio/workflow';

/** Steering a long run; the Temporal CLI sends the same names (`temporal workflow signal --name pause`). */
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const stopAfterIterationSignal = defineSignal('stopAfterIteration');

export interface RunStatus {
  iteration: number;
  iterations: number;
  policyModel: string;
  paused: boolean;
  stopRequested: boolean;
}
export const runStatusQuery = defineQuery<RunStatus>('status');
