import { ApplicationFailure, workflowInfo } from '@temporalio/workflow';
import { trainingStrategy } from '../core/strategies.js';
import type { IterationResult } from '../core/steps.js';
import { evaluatePolicy } from './evaluate-policy.js';
import { generateAndJudge } from './generate-and-judge.js';
import { IterationContext, type IterationInput } from './iteration-context.js';
import { buildPairs, loadTrainingPrompts, serveCheckpoint } from './iteration-steps.js';
import { trainPolicy } from './train-policy.js';

/**
 * One EVOLVE iteration t (method.md): sample -> self-refine -> judge -> pair -> train -> serve ->
 * evaluate. Each step is one named call; its body is in the file it is imported from.
 */
export async function evolveIteration(input: IterationInput): Promise<IterationResult> {
  // Its input is evolveRun's validated config: a start from outside (`temporal workflow start`) would skip
  // the schema, the endpoint and key rules and the path rules, so it is refused before anything runs.
  if (workflowInfo().parent === undefined)
    throw ApplicationFailure.nonRetryable(
      'evolveIteration runs only as a child of evolveRun, which validates its config: start evolveRun',
      'ConfigError',
    );
  const it = new IterationContext(input);
  const { config, iteration, policy } = it;
  const { policyModel, serving } = input;

  // 0. The server answers with another model than pi_t: after a regression (keepBest) the regressed
  // checkpoint, after stage 0 SFT the base model.
  if (serving !== undefined && serving !== policyModel) {
    await it.enter('serve-policy');
    await serveCheckpoint(it, policyModel, serving, 'serve the policy of this iteration');
  }

  // Iteration 0: the initial policy pi_1, evaluated before anything is trained (curves start there).
  if (iteration === 0) return it.finish(policyModel, await evaluatePolicy(it, policy));

  // 1-3. Sample N answers per prompt, self-refine each in a chain of depth K, judge every response.
  await it.enter('sample-refine-judge');
  const prompts = await loadTrainingPrompts(it);
  const { temperature, topP, maxTokens, seed } = config.sampling;
  const params = { temperature, topP, maxTokens, seed };
  const train = await generateAndJudge(
    it,
    'train',
    prompts,
    policy,
    params,
    trainingStrategy(config.sampling),
  );

  // 4. Pair: direct pairs and refinement pairs.
  await it.enter('pair');
  const pairs = await buildPairs(it, prompts, train);

  // 5. Train pi_{t+1} by preference optimisation.
  await it.enter('train');
  const checkpoint = await trainPolicy(it, pairs);

  // 6. Serve the new checkpoint.
  await it.enter('serve');
  const served = await serveCheckpoint(it, checkpoint.path, policyModel, 'serve the new checkpoint');

  // 7-8. Evaluate it: direct and after refinement, then the benchmark suites.
  return it.finish(checkpoint.path, await evaluatePolicy(it, served));
}
