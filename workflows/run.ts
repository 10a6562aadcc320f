import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  executeChild,
  getExternalWorkflowHandle,
  type SignalDefinition,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { BaseModelKey, RunIdKey } from '../core/search-attributes.js';
import type { IterationResult, RunResult } from '../core/steps.js';
import { bookkeeping } from './activities.js';
import {
  pauseSignal,
  resumeSignal,
  runStatusQuery,
  stopAfterIterationSignal,
  type RunStatus,
} from './control.js';
import { evolveIteration } from './iteration.js';

/** What a run carries into its next execution after continue-as-new: only what the loop needs. */
export interface RunCarry {
  iterations: IterationResult[];
  policyModel: string;
  paused: boolean;
  stopRequested: boolean;
}

/**
 * The EVOLVE run: T iterations, each a child workflow `<runId>/iter-<t>`; the checkpoint trained in
 * iteration t is the policy of iteration t+1. The input is the raw config JSON, validated first, so a
 * start from the Temporal CLI gets the same checks as one from `evolve run`. Each iteration after the
 * first starts in a fresh execution (continue-as-new), so the run's history stays small for any T.
 */
export async function evolveRun(input: unknown, carry?: RunCarry): Promise<RunResult> {
  const status: RunStatus = {
    iteration: carry?.iterations.length ?? 0,
    iterations: 0,
    policyModel: carry?.policyModel ?? '',
    paused: carry?.paused ?? false,
    stopRequested: carry?.stopRequested ?? false,
  };
  const childId = (t: number) => `${workflowInfo().workflowId}/iter-${t}`;
  // Pause and resume apply between steps, inside the running iteration, so they are passed on to it.
  const forward = async (signal: SignalDefinition) => {
    if (status.iteration === 0) return;
    await getExternalWorkflowHandle(childId(status.iteration))
      .signal(signal)
      .catch(() => undefined); // the iteration has just finished: the run loop sees the flag instead
  };
  setHandler(runStatusQuery, () => status);
  setHandler(pauseSignal, async () => {
    status.paused = true;
    await forward(pauseSignal);
  });
  setHandler(resumeSignal, async () => {
    status.paused = false;
    await forward(resumeSignal);
  });
  setHandler(stopAfterIterationSignal, () => void (status.stopRequested = true));

  const { config, configHash } = await bookkeeping.validateConfig.executeWithOptions(
    { summary: 'validate config' },
    [input],
  );
  upsertSearchAttributes([
    { key: RunIdKey, value: config.runId },
    { key: BaseModelKey, value: config.policy.baseModel },
  ]);
  status.iterations = config.iterations;
  status.policyModel ||= config.policy.baseModel;
  const iterations: IterationResult[] = [...(carry?.iterations ?? [])];
  for (
    let iteration = iterations.length + 1;
    iteration <= config.iterations && !status.stopRequested;
    iteration++
  ) {
    if (status.paused) setCurrentDetails(`paused before iteration ${iteration}`);
    await condition(() => !status.paused);
    setCurrentDetails(`iteration ${iteration}/${config.iterations}, policy ${status.policyModel}`);
    status.iteration = iteration;
    const result = await executeChild(evolveIteration, {
      workflowId: childId(iteration),
      args: [{ config, configHash, iteration, policyModel: status.policyModel, paused: status.paused }],
      staticSummary: `EVOLVE iteration ${iteration}/${config.iterations} of ${config.runId}`,
      typedSearchAttributes: [
        { key: RunIdKey, value: config.runId },
        { key: BaseModelKey, value: config.policy.baseModel },
      ],
    });
    iterations.push(result);
    status.policyModel = result.checkpoint;
    if (iteration < config.iterations && !status.stopRequested && patched('continue-as-new-per-iteration')) {
      await condition(allHandlersFinished);
      const next: RunCarry = {
        iterations,
        policyModel: status.policyModel,
        paused: status.paused,
        stopRequested: false,
      };
      await continueAsNew<typeof evolveRun>(input, next);
    }
  }
  const stopped =
    iterations.length < config.iterations ? ` (stopped after iteration ${iterations.length})` : '';
  setCurrentDetails(`done: ${iterations.length} iteration(s)${stopped}, final model ${status.policyModel}`);
  await condition(allHandlersFinished);
  return { runId: config.runId, configHash, iterations, finalModel: status.policyModel };
}
