import type { RunResult } from '../core/steps.js';
import { RunState, type RunCarry } from './run-state.js';
import { stageZero } from './train-policy.js';

/**
 * The EVOLVE run: T iterations, each a child workflow `<runId>/iter-<t>`; the checkpoint trained in
 * iteration t is the policy of iteration t+1. Each iteration after the first starts in a fresh
 * execution (continue-as-new), where a config changed by `updateConfig` takes over. Status, steering
 * and updates: run-state.ts.
 */
export async function evolveRun(input: unknown, carry?: RunCarry): Promise<RunResult> {
  const run = new RunState(input, carry);
  const { configHash } = await run.validate();
  try {
    // Stage 0 (method.md): SFT on an external preference set, once, before anything else; its result is
    // pi_1, which iteration 0 evaluates and iteration 1 trains.
    const dataset = run.config.trainer.sft?.dataset;
    if (dataset !== undefined && run.iterations.length === 0 && !run.stage0)
      run.trainedStageZero(await stageZero(run.config, configHash, dataset));
    // Iteration 0 evaluates the initial policy.
    const zero = run.config.evaluation.iterationZero !== false;
    if (run.iterations.length === 0 && zero) await run.iterate(0);
    for (let t = run.next; t <= run.config.iterations && !run.status.stopRequested; t++) {
      await run.iterate(t);
      const more = t < run.config.iterations && !run.status.stopRequested;
      if (more) await run.continueAsNew();
    }
  } catch (err) {
    run.failed(err);
  }
  return run.complete();
}
