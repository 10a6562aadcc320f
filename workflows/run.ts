import {
  allHandlersFinished,
  condition,
  continueAsNew,
  ContinueAsNew,
  isCancellation,
  patched,
  executeChild,
  getExternalWorkflowHandle,
  type SignalDefinition,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { applyConfigUpdate, ConfigError, type RunConfig } from '../core/config.js';
import { keepBestDecision } from '../core/keep-best.js';
import {
  BaseModelKey,
  type EvolveStatus,
  IterationKey,
  RunIdKey,
  StatusKey,
} from '../core/search-attributes.js';
import type { IterationResult, RunResult, StepReport } from '../core/steps.js';
import { fnv1a64 } from '../core/templates.js';
import { bookkeeping, reuseIndexes, training } from './activities.js';
import {
  pauseSignal,
  resumeSignal,
  runStatusQuery,
  stopAfterIterationSignal,
  updateConfigUpdate,
  type RunStatus,
} from './control.js';
import { evolveIteration } from './iteration.js';

/** What a run carries into its next execution after continue-as-new: only what the loop needs. */
export interface RunCarry {
  iterations: IterationResult[];
  policyModel: string;
  paused: boolean;
  stopRequested: boolean;
  /** The input is a config changed by `updateConfig`, which replaces the run's claimed config. */
  amended?: boolean;
  /** Stage 0 SFT (trainer.sft.dataset), once it has trained pi_1. */
  stage0?: StepReport;
}

/**
 * The EVOLVE run: T iterations, each a child workflow `<runId>/iter-<t>`; the checkpoint trained in
 * iteration t is the policy of iteration t+1. The input is the raw config JSON, validated first, so a
 * start from the Temporal CLI gets the same checks as one from `evolve run`. Each iteration after the
 * first starts in a fresh execution (continue-as-new), so the run's history stays small for any T;
 * that is also where a config changed by `updateConfig` takes over.
 */
export async function evolveRun(input: unknown, carry?: RunCarry): Promise<RunResult> {
  const status: RunStatus = {
    status: 'running',
    iteration: carry?.iterations.at(-1)?.iteration ?? 0,
    iterations: 0,
    policyModel: carry?.policyModel ?? '',
    paused: carry?.paused ?? false,
    stopRequested: carry?.stopRequested ?? false,
    configHash: '',
    pendingChanges: [],
  };
  // Status attribute and memo came after the recorded histories: those replay without them.
  let audited: boolean | undefined;
  const audit = () => (audited ??= patched('evolve-status-attribute'));
  const publish = (next: EvolveStatus) => {
    if (status.status === next) return;
    status.status = next;
    if (audit()) upsertSearchAttributes([{ key: StatusKey, value: next }]);
  };
  const failed = (err: unknown): never => {
    if (!(err instanceof ContinueAsNew)) publish(isCancellation(err) ? 'cancelled' : 'failed');
    throw err;
  };
  const steering = (): EvolveStatus =>
    status.paused ? 'paused' : status.stopRequested ? 'stopping' : 'running';

  const childId = (t: number) => `${workflowInfo().workflowId}/iter-${t}`;
  // Iteration 0 is a child too: status.iteration alone cannot tell it from "none started yet".
  let childStarted = status.iteration > 0;
  // Pause and resume apply between steps, inside the running iteration, so they are passed on to it.
  const forward = async (signal: SignalDefinition) => {
    if (!childStarted) return;
    await getExternalWorkflowHandle(childId(status.iteration))
      .signal(signal)
      .catch(() => undefined); // the iteration has just finished: the run loop sees the flag instead
  };
  setHandler(runStatusQuery, () => status);
  setHandler(pauseSignal, async () => {
    status.paused = true;
    publish(steering());
    await forward(pauseSignal);
  });
  setHandler(resumeSignal, async () => {
    status.paused = false;
    publish(steering());
    await forward(resumeSignal);
  });
  setHandler(stopAfterIterationSignal, () => {
    status.stopRequested = true;
    publish(steering());
  });

  let config: RunConfig | undefined;
  const update = (patch: unknown) => {
    if (!config) throw new ConfigError('the run is still validating its config: send the update again');
    return applyConfigUpdate(config, patch, status.iteration);
  };
  setHandler(
    updateConfigUpdate,
    (patch) => {
      const { config: next, changed } = update(patch);
      config = next;
      status.iterations = next.iterations;
      status.pendingChanges = [...new Set([...status.pendingChanges, ...changed])];
      return { changed, appliesFromIteration: status.iteration + 1 };
    },
    { validator: (patch) => void update(patch) },
  );

  const validateArgs: [unknown, { amended: boolean }?] = carry?.amended
    ? [input, { amended: true }]
    : [input];
  const validated = await bookkeeping.validateConfig
    .executeWithOptions({ summary: 'validate config' }, validateArgs)
    .catch(failed);
  config = validated.config;
  const { configHash } = validated;
  status.configHash = configHash;
  upsertSearchAttributes([
    { key: RunIdKey, value: config.runId },
    { key: BaseModelKey, value: config.policy.baseModel },
  ]);
  if (audit()) {
    upsertSearchAttributes([{ key: StatusKey, value: steering() }]);
    upsertMemo({ configHash, artifactRoot: config.artifactRoot });
  }
  status.status = steering();
  status.iterations = config.iterations;
  status.policyModel ||= config.policy.baseModel;
  const iterations: IterationResult[] = [...(carry?.iterations ?? [])];
  status.evaluated = iterations.map(({ iteration, evaluation }) => ({
    iteration,
    accuracy: evaluation.accuracy,
  }));
  /** What the server answers with where that is not status.policyModel (stage 0 has just trained pi_1). */
  let serving: string | undefined;
  /** Runs iteration t as the child workflow `<runId>/iter-<t>` and hands its checkpoint on. */
  const runIteration = async (iteration: number) => {
    if (status.paused) setCurrentDetails(`paused before iteration ${iteration}`);
    await condition(() => !status.paused);
    const previous = iterations.at(-1);
    const kept = previous?.keptBest;
    status.keptBest = kept;
    setCurrentDetails(
      `iteration ${iteration}/${config!.iterations}, policy ${status.policyModel}` +
        (kept
          ? ` (kept from iteration ${kept.iteration}: iteration ${previous!.iteration} scored ${kept.regressedTo} < ${kept.score})`
          : ''),
    );
    status.iteration = iteration;
    childStarted = true;
    if (audit()) upsertSearchAttributes([{ key: IterationKey, value: iteration }]);
    const result = await executeChild(evolveIteration, {
      workflowId: childId(iteration),
      args: [
        {
          config: config!,
          configHash,
          iteration,
          policyModel: status.policyModel,
          paused: status.paused,
          // The server still answers with the regressed checkpoint (or the base model, after stage 0):
          // the iteration serves its policy first.
          ...(kept ? { serving: previous!.checkpoint } : serving ? { serving } : {}),
        },
      ],
      staticSummary:
        iteration === 0
          ? `EVOLVE iteration 0 (the initial policy, evaluated before training) of ${config!.runId}`
          : `EVOLVE iteration ${iteration}/${config!.iterations} of ${config!.runId}`,
      typedSearchAttributes: [
        { key: RunIdKey, value: config!.runId },
        { key: BaseModelKey, value: config!.policy.baseModel },
      ],
    });
    serving = undefined;
    // keepBest: an iteration scoring below the best so far hands that best checkpoint on instead.
    const keptBest = config!.evaluation.keepBest ? keepBestDecision([...iterations, result]) : null;
    iterations.push(keptBest ? { ...result, keptBest } : result);
    status.evaluated!.push({ iteration, accuracy: result.evaluation.accuracy });
    status.policyModel = keptBest?.checkpoint ?? result.checkpoint;
  };
  let stage0 = carry?.stage0;
  try {
    // Stage 0 (method.md): SFT on an external preference set, once, before anything else; its result is
    // pi_1, which iteration 0 evaluates and iteration 1 trains. Configs before the option never ran it.
    const dataset = config.trainer.sft?.dataset;
    if (dataset !== undefined && iterations.length === 0 && !stage0 && patched('stage0-sft')) {
      stage0 = await stageZero(config, configHash, dataset);
      serving = config.policy.baseModel;
      status.policyModel = stage0.uri;
    }
    // Iteration 0 evaluates the initial policy; histories recorded before it replay without it.
    if (iterations.length === 0 && config.evaluation.iterationZero !== false && patched('iteration-zero'))
      await runIteration(0);
    for (
      let iteration = (iterations.at(-1)?.iteration ?? 0) + 1;
      iteration <= config.iterations && !status.stopRequested;
      iteration++
    ) {
      await runIteration(iteration);
      if (
        iteration < config.iterations &&
        !status.stopRequested &&
        patched('continue-as-new-per-iteration')
      ) {
        await condition(allHandlersFinished);
        const next: RunCarry = {
          iterations,
          policyModel: status.policyModel,
          paused: status.paused,
          stopRequested: false,
          ...(status.pendingChanges.length > 0 || carry?.amended ? { amended: true } : {}),
          ...(stage0 ? { stage0 } : {}),
        };
        // An updated config travels as the next execution's input; otherwise the original input does.
        await continueAsNew<typeof evolveRun>(status.pendingChanges.length > 0 ? config : input, next);
      }
    }
  } catch (err) {
    failed(err);
  }
  const last = iterations.at(-1)?.iteration ?? 0;
  publish('completed');
  await condition(allHandlersFinished);
  // Updates accepted for iterations that will not run are reported, not silently dropped.
  const unapplied = status.pendingChanges;
  if (unapplied.length > 0) {
    status.unappliedChanges = unapplied;
    status.pendingChanges = [];
  }
  const stopped = last < config.iterations ? ` (stopped after iteration ${last})` : '';
  const notApplied = unapplied.length > 0 ? `; config changes not applied: ${unapplied.join(', ')}` : '';
  setCurrentDetails(`done: ${last} iteration(s)${stopped}, final model ${status.policyModel}${notApplied}`);
  return {
    runId: config.runId,
    configHash,
    ...(stage0 ? { stage0 } : {}),
    iterations,
    finalModel: status.policyModel,
    ...(last < config.iterations ? { stoppedAfter: last } : {}),
    ...(unapplied.length > 0 ? { unapplied: { changes: unapplied, config } } : {}),
  };
}

/**
 * Stage 0 as its own keyed, resumable training job: the preference set's SFT rows (x -> y_w and
 * c(x, y_l, z) -> y_w) in sft.jsonl, then `sft` of the base model on them. A restart, a reset or a run
 * that reuses this one finds both finished (reuse index) instead of training again.
 */
async function stageZero(config: RunConfig, configHash: string, dataset: string): Promise<StepReport> {
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
  const jobKey = `${config.runId}-stage0-sft-${fnv1a64(`${configHash}/${base}/${sft.sha256}`)}`;
  // The sft stage trains on the sft.jsonl beside its `pairs` manifest: here that file itself.
  const job = await training.submitTraining.executeWithOptions({ summary: `submit ${jobKey}` }, [
    {
      scope: { ...scope, dir: `${scope.dir}/checkpoint` },
      stage: 'sft',
      pairs: sft,
      policyModel: base,
      referenceModel: base,
      trainer: config.trainer,
      jobKey,
    },
  ]);
  const checkpoint = await training.awaitTraining.executeWithOptions({ summary: `train ${jobKey}` }, [job]);
  return {
    iteration: 0,
    step: 'stage0:sft',
    rows: sft.rows,
    wallMs: checkpoint.wallMs,
    uri: checkpoint.path,
    reused: (sft.reused ?? false) && (checkpoint.reused ?? false),
  };
}
