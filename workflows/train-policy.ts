import { setCurrentDetails } from '@temporalio/workflow';
import type { RunConfig } from '../core/config.js';
import type { Checkpoint, StepReport, SubmitTrainingInput } from '../core/steps.js';
import { fnv1a64 } from '../core/templates.js';
import { bookkeeping, reuseIndexes, training } from './activities.js';
import type { IterationContext } from './iteration-context.js';

/**
 * One training job: submitted under its job key, then followed to its checkpoint. The key is the
 * business identity (run, stage, config, policy, data), stable across retries, resets and worker crashes.
 */
async function trainJob(input: SubmitTrainingInput): Promise<Checkpoint> {
  const job = await training.submitTraining.executeWithOptions({ summary: `submit ${input.jobKey}` }, [
    input,
  ]);
  return training.awaitTraining.executeWithOptions({ summary: `train ${input.jobKey}` }, [job]);
}

/**
 * Step 5: DPO of pi_t on this iteration's pairs, after the optional stage-0-style SFT on them
 * (method.md; `trainer.sft.when`, default never).
 */
export async function trainPolicy(
  it: IterationContext,
  pairs: SubmitTrainingInput['pairs'],
): Promise<Checkpoint> {
  const { config, iteration } = it;
  const { configHash, policyModel, initialPolicy = config.policy.baseModel } = it.input;
  const key = (stage: string, policy: string) =>
    `${config.runId}-iter${iteration}-${stage}-${fnv1a64(`${configHash}/${policy}/${pairs.sha256}`)}`;
  const sftWhen = config.trainer.sft?.when ?? 'never';
  let dpoPolicy = policyModel;
  if (sftWhen === 'every' || (sftWhen === 'first' && iteration === 1)) {
    const sft = await trainJob({
      scope: it.scope('train/sft'),
      stage: 'sft',
      pairs,
      policyModel,
      referenceModel: policyModel,
      trainer: config.trainer,
      jobKey: key('sft', policyModel),
    });
    it.report('train:sft', { rows: pairs.rows, wallMs: sft.wallMs, uri: sft.path, reused: sft.reused });
    dpoPolicy = sft.path;
  }
  const checkpoint = await trainJob({
    scope: it.scope('train/checkpoint'),
    pairs,
    policyModel: dpoPolicy,
    referenceModel: config.trainer.reference === 'initial' ? initialPolicy : dpoPolicy,
    trainer: config.trainer,
    jobKey: key('dpo', dpoPolicy),
  });
  it.report('train', {
    rows: pairs.rows,
    wallMs: checkpoint.wallMs,
    uri: checkpoint.path,
    reused: checkpoint.reused,
  });
  return checkpoint;
}

/**
 * Stage 0 as its own keyed, resumable training job: the preference set's SFT rows (x -> y_w and
 * c(x, y_l, z) -> y_w) in sft.jsonl, then `sft` of the base model on them. A restart, a reset or a run
 * that reuses this one finds both finished (reuse index) instead of training again.
 */
export async function stageZero(config: RunConfig, configHash: string, dataset: string): Promise<StepReport> {
  setCurrentDetails(`stage 0: SFT of ${config.policy.baseModel} on ${dataset}`);
  const scope = {
    runId: config.runId,
    iteration: 0,
    dir: `${config.artifactRoot}/${config.runId}/stage0`,
    indexes: reuseIndexes(config),
  };
  const sft = await bookkeeping.buildSftSet.executeWithOptions(
    { summary: `stage 0 SFT rows from ${dataset}` },
    [{ scope: { ...scope, dir: `${scope.dir}/data` }, dataset, refinement: config.refinement }],
  );
  const base = config.policy.baseModel;
  // The sft stage trains on the sft.jsonl beside its `pairs` manifest: here that file itself.
  const checkpoint = await trainJob({
    scope: { ...scope, dir: `${scope.dir}/checkpoint` },
    stage: 'sft',
    pairs: sft,
    policyModel: base,
    referenceModel: base,
    trainer: config.trainer,
    jobKey: `${config.runId}-stage0-sft-${fnv1a64(`${configHash}/${base}/${sft.sha256}`)}`,
  });
  return {
    iteration: 0,
    step: 'stage0:sft',
    rows: sft.rows,
    wallMs: checkpoint.wallMs,
    uri: checkpoint.path,
    reused: (sft.reused ?? false) && (checkpoint.reused ?? false),
  };
}
