import { patched } from '@temporalio/workflow';
import type { Manifest } from '../core/records.js';
import type { ModelRef } from '../core/steps.js';
import { bookkeeping, serveOptions } from './activities.js';
import { suiteSource } from './evaluate-policy.js';
import type { Generated } from './generate-and-judge.js';
import type { IterationContext } from './iteration-context.js';

/**
 * The iteration's training prompts. Those also in the evaluation or a suite are dropped
 * (decontamination); histories recorded before it replay without.
 */
export async function loadTrainingPrompts(it: IterationContext): Promise<Manifest> {
  const { config, iteration } = it;
  const heldOut = [config.evaluation.prompts, ...(config.evaluation.suites ?? []).map(suiteSource)];
  const prompts = await bookkeeping.loadPrompts.executeWithOptions({ summary: 'load training prompts' }, [
    {
      scope: it.scope('train'),
      sources: config.prompts,
      seedOffset: iteration,
      ...(patched('decontaminate') ? { exclude: heldOut } : {}),
    },
  ]);
  it.report('train:prompts', prompts);
  return prompts;
}

/** Step 4: direct and refinement preference pairs, a shard at a time. */
export async function buildPairs(
  it: IterationContext,
  prompts: Manifest,
  train: Generated,
): Promise<Manifest> {
  const { config } = it;
  const pairs = await bookkeeping.buildPairs.executeWithOptions(
    { summary: `build pairs (${config.pairing.rule})` },
    [
      {
        scope: it.scope('train/pairs'),
        prompts,
        shards: train.shards.map(({ shard: { start, end }, ...outputs }) => ({ start, end, ...outputs })),
        pairing: config.pairing,
        refinement: config.refinement,
      },
    ],
  );
  it.report('pair', pairs);
  return pairs;
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
