import { executeChild, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { BaseModelKey, RunIdKey } from '../core/search-attributes.js';
import type { IterationResult, RunResult } from '../core/steps.js';
import { bookkeeping } from './activities.js';
import { evolveIteration } from './iteration.js';

/**
 * The EVOLVE run: T iterations, each a child workflow `<runId>/iter-<t>`; the checkpoint trained in
 * iteration t is the policy of iteration t+1. The input is the raw config JSON, validated first, so a
 * start from the Temporal CLI gets the same checks as one from `evolve run`.
 */
export async function evolveRun(input: unknown): Promise<RunResult> {
  const { config, configHash } = await bookkeeping.validateConfig(input);
  upsertSearchAttributes([
    { key: RunIdKey, value: config.runId },
    { key: BaseModelKey, value: config.policy.baseModel },
  ]);
  const iterations: IterationResult[] = [];
  let policyModel = config.policy.baseModel;
  for (let iteration = 1; iteration <= config.iterations; iteration++) {
    setCurrentDetails(`iteration ${iteration}/${config.iterations}, policy ${policyModel}`);
    const result = await executeChild(evolveIteration, {
      workflowId: `${workflowInfo().workflowId}/iter-${iteration}`,
      args: [{ config, configHash, iteration, policyModel }],
      staticSummary: `EVOLVE iteration ${iteration}/${config.iterations} of ${config.runId}`,
      typedSearchAttributes: [
        { key: RunIdKey, value: config.runId },
        { key: BaseModelKey, value: config.policy.baseModel },
      ],
    });
    iterations.push(result);
    policyModel = result.checkpoint;
  }
  setCurrentDetails(`done: ${config.iterations} iteration(s), final model ${policyModel}`);
  return { runId: config.runId, configHash, iterations, finalModel: policyModel };
}
