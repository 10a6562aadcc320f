import {
  allHandlersFinished,
  condition,
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

/**
 * The EVOLVE run: T iterations, each a child workflow `<runId>/iter-<t>`; the checkpoint trained in
 * iteration t is the policy of iteration t+1. The input is the raw config JSON, validated first, so a
 * start from the Temporal CLI gets the same checks as one from `evolve run`.
 */
export async function evolveRun(input: unknown): Promise<RunResult> {
  const status: RunStatus = {
    iteration: 0,
    iterations: 0,
    policyModel: '',
    paused: false,
    stopRequested: false,
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

  const { config, configHash } = await bookkeeping.validateConfig(input);
  upsertSearchAttributes([
    { key: RunIdKey, value: config.runId },
    { key: BaseModelKey, value: config.policy.baseModel },
  ]);
  status.iterations = config.iterations;
  status.policyModel = config.policy.baseModel;
  const iterations: IterationResult[] = [];
  for (let iteration = 1; iteration <= config.iterations && !status.stopRequested; iteration++) {
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
  }
  const stopped =
    iterations.length < config.iterations ? ` (stopped after iteration ${iterations.length})` : '';
  setCurrentDetails(`done: ${iterations.length} iteration(s)${stopped}, final model ${status.policyModel}`);
  await condition(allHandlersFinished);
  return { runId: config.runId, configHash, iterations, finalModel: status.policyModel };
}
