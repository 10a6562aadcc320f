import type { Manifest } from '../core/records.js';
import type { ModelRef } from '../core/steps.js';
import { bookkeeping, serveOptions } from './activities.js';
import { suiteSource } from './evaluate-policy.js';
import type { Generated } from './generate-and-judge.js';
import type { IterationContext } from './iteration-context.js';

/**
 * The iteration's training prompts. Those also in the evaluation or a suite are dropped
 * (decontamination).
 */
export async function loadTrainingPrompts(it: IterationContext): Promise<Manifest> {
  const { config, iteration } = it;
  const heldOut = [config.evaluation.prompts, ...(config.evaluation.suites ?? []).map(suiteSource)];
  const input = {
    scope: it.scope('train'),
    sources: config.prompts,
    seedOffset: iteration,
    exclude: heldOut,
  };
  const summary = 'load training prompts';
  return it.reported('train:prompts', bookkeeping.loadPrompts.executeWithOptions({ summary }, [input]));
}

/** Step 4: direct and refinement preference pairs, a shard at a time. */
export async function buildPairs(
  it: IterationContext,
  prompts: Manifest,
  train: Generated,
): Promise<Manifest> {
  const { pairing, refinement } = it.config;
  const shards = train.shards.map(({ shard: { start, end }, ...outputs }) => ({ start, end, ...outputs }));
  const input = { scope: it.scope('train/pairs'), prompts, shards, pairing, refinement };
  const summary = `build pairs (${pairing.rule})`;
  return it.reported('pair', bookkeeping.buildPairs.executeWithOptions({ summary }, [input]));
}

/** The policy's server answers with `model` from now on, in place of `replaces`. */
export async function serveCheckpoint(
  it: IterationContext,
  model: string,
  replaces: string,
  summary: string,
): Promise<ModelRef> {
  const { config } = it;
  return bookkeeping.serveCheckpoint.executeWithOptions(serveOptions(config.policy.serve, summary), [
    {
      ...it.policy,
      model,
      serve: config.policy.serve,
      replaces,
      probe: { temperature: config.sampling.temperature, topP: config.sampling.topP },
    },
  ]);
}
