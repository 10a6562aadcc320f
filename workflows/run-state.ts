import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  ContinueAsNew,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  setCurrentDetails,
  setHandler,
  type SignalDefinition,
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
import { bookkeeping } from './activities.js';
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
 * A run's state between its steps: the status the `status` query answers with, the steering signals and
 * config updates, the finished iterations and the policy the next one trains.
 */
export class RunState {
  readonly status: RunStatus;
  readonly iterations: IterationResult[];
  stage0: StepReport | undefined;
  #config: RunConfig | undefined;
  #configHash = '';
  // Iteration 0 is a child too: status.iteration alone cannot tell it from "none started yet".
  #childStarted: boolean;
  /** What the server answers with where that is not status.policyModel (stage 0 has just trained pi_1). */
  #serving: string | undefined;

  constructor(
    readonly input: unknown,
    readonly carry: RunCarry | undefined,
  ) {
    this.status = {
      status: 'running',
      iteration: carry?.iterations.at(-1)?.iteration ?? 0,
      iterations: 0,
      policyModel: carry?.policyModel ?? '',
      paused: carry?.paused ?? false,
      stopRequested: carry?.stopRequested ?? false,
      configHash: '',
      pendingChanges: [],
    };
    this.iterations = [...(carry?.iterations ?? [])];
    this.stage0 = carry?.stage0;
    this.#childStarted = this.status.iteration > 0;
    this.#handle();
  }

  get config(): RunConfig {
    if (!this.#config) throw new ConfigError('the run is still validating its config: send the update again');
    return this.#config;
  }

  #publish(next: EvolveStatus): void {
    if (this.status.status === next) return;
    this.status.status = next;
    upsertSearchAttributes([{ key: StatusKey, value: next }]);
  }

  #steering(): EvolveStatus {
    return this.status.paused ? 'paused' : this.status.stopRequested ? 'stopping' : 'running';
  }

  /** Publishes a failure or cancellation (continue-as-new is neither) and rethrows. */
  failed(err: unknown): never {
    if (!(err instanceof ContinueAsNew)) this.#publish(isCancellation(err) ? 'cancelled' : 'failed');
    throw err;
  }

  #childId(t: number): string {
    return `${workflowInfo().workflowId}/iter-${t}`;
  }

  #handle(): void {
    const { status } = this;
    // Pause and resume apply between steps, inside the running iteration, so they are passed on to it.
    const forward = async (signal: SignalDefinition) => {
      if (!this.#childStarted) return;
      await getExternalWorkflowHandle(this.#childId(status.iteration))
        .signal(signal)
        .catch(() => undefined); // the iteration has just finished: the run loop sees the flag instead
    };
    const steered = () => this.#publish(this.#steering());
    setHandler(runStatusQuery, () => status);
    setHandler(pauseSignal, async () => {
      status.paused = true;
      steered();
      await forward(pauseSignal);
    });
    setHandler(resumeSignal, async () => {
      status.paused = false;
      steered();
      await forward(resumeSignal);
    });
    setHandler(stopAfterIterationSignal, () => {
      status.stopRequested = true;
      steered();
    });
    const update = (patch: unknown) => applyConfigUpdate(this.config, patch, status.iteration);
    setHandler(
      updateConfigUpdate,
      (patch) => {
        const { config: next, changed } = update(patch);
        this.#config = next;
        status.iterations = next.iterations;
        status.pendingChanges = [...new Set([...status.pendingChanges, ...changed])];
        return { changed, appliesFromIteration: status.iteration + 1 };
      },
      { validator: (patch) => void update(patch) },
    );
  }

  /**
   * Validates the input (the raw config JSON, so a start from the Temporal CLI gets the same checks as
   * one from `evolve run`) and publishes the run's search attributes and memo.
   */
  async validate(): Promise<{ config: RunConfig; configHash: string }> {
    const { status, carry } = this;
    // The carry (finished iterations, the amended flag that replaces the run's claimed config) is the run's
    // own state: it arrives only through continue-as-new, never as a second argument of an outside start.
    if (carry !== undefined && workflowInfo().continuedFromExecutionRunId === undefined)
      this.failed(
        ApplicationFailure.nonRetryable(
          'evolveRun takes one argument, the run config: its second (the carry between executions) is passed only by the run itself, on continue-as-new',
          'ConfigError',
        ),
      );
    const args: [unknown, { amended: boolean }?] = carry?.amended
      ? [this.input, { amended: true }]
      : [this.input];
    const validated = await bookkeeping.validateConfig
      .executeWithOptions({ summary: 'validate config' }, args)
      .catch((err: unknown) => this.failed(err));
    const config = (this.#config = validated.config);
    this.#configHash = status.configHash = validated.configHash;
    upsertSearchAttributes([
      { key: RunIdKey, value: config.runId },
      { key: BaseModelKey, value: config.policy.baseModel },
    ]);
    upsertSearchAttributes([{ key: StatusKey, value: this.#steering() }]);
    upsertMemo({ configHash: this.#configHash, artifactRoot: config.artifactRoot });
    status.status = this.#steering();
    status.iterations = config.iterations;
    status.policyModel ||= config.policy.baseModel;
    status.evaluated = this.iterations.map(({ iteration, evaluation }) => ({
      iteration,
      accuracy: evaluation.accuracy,
    }));
    return { config, configHash: this.#configHash };
  }

  /** Stage 0 trained pi_1 from the base model, which the server still answers with. */
  trainedStageZero(stage0: StepReport): void {
    this.stage0 = stage0;
    this.#serving = this.config.policy.baseModel;
    this.status.policyModel = stage0.uri;
  }

  /** The iteration after the last finished one. */
  get next(): number {
    return (this.iterations.at(-1)?.iteration ?? 0) + 1;
  }

  /** Runs iteration t as the child workflow `<runId>/iter-<t>` and hands its checkpoint on. */
  async iterate(iteration: number): Promise<void> {
    const { status } = this;
    if (status.paused) setCurrentDetails(`paused before iteration ${iteration}`);
    await condition(() => !status.paused);
    const config = this.config;
    const previous = this.iterations.at(-1);
    const kept = previous?.keptBest;
    status.keptBest = kept;
    setCurrentDetails(
      `iteration ${iteration}/${config.iterations}, policy ${status.policyModel}` +
        (kept
          ? ` (kept from iteration ${kept.iteration}: iteration ${previous!.iteration} scored ${kept.regressedTo} < ${kept.score})`
          : ''),
    );
    status.iteration = iteration;
    this.#childStarted = true;
    upsertSearchAttributes([{ key: IterationKey, value: iteration }]);
    const serving = kept ? previous!.checkpoint : this.#serving;
    const result = await executeChild(evolveIteration, {
      workflowId: this.#childId(iteration),
      args: [
        {
          config,
          configHash: this.#configHash,
          iteration,
          policyModel: status.policyModel,
          initialPolicy: this.stage0?.uri ?? config.policy.baseModel,
          paused: status.paused,
          // The server still answers with the regressed checkpoint (or the base model, after stage 0):
          // the iteration serves its policy first.
          ...(serving ? { serving } : {}),
        },
      ],
      staticSummary:
        iteration === 0
          ? `EVOLVE iteration 0 (the initial policy, evaluated before training) of ${config.runId}`
          : `EVOLVE iteration ${iteration}/${config.iterations} of ${config.runId}`,
      typedSearchAttributes: [
        { key: RunIdKey, value: config.runId },
        { key: BaseModelKey, value: config.policy.baseModel },
      ],
    });
    this.#serving = undefined;
    // keepBest: an iteration scoring below the best so far hands that best checkpoint on instead.
    const keptBest = config.evaluation.keepBest ? keepBestDecision([...this.iterations, result]) : null;
    this.iterations.push(keptBest ? { ...result, keptBest } : result);
    status.evaluated!.push({ iteration, accuracy: result.evaluation.accuracy });
    status.policyModel = keptBest?.checkpoint ?? result.checkpoint;
  }

  /**
   * Goes on in a fresh execution, so the run's history stays small for any T; an updated config travels
   * as its input (and takes over there), otherwise the original input does.
   */
  async continueAsNew(): Promise<never> {
    const { status, carry, stage0 } = this;
    await condition(allHandlersFinished);
    const changed = status.pendingChanges.length > 0;
    const next: RunCarry = {
      iterations: this.iterations,
      policyModel: status.policyModel,
      paused: status.paused,
      stopRequested: false,
      ...(changed || carry?.amended ? { amended: true } : {}),
      ...(stage0 ? { stage0 } : {}),
    };
    return continueAsNew<(input: unknown, carry?: RunCarry) => Promise<RunResult>>(
      changed ? this.config : this.input,
      next,
    );
  }

  /** The run's result; accepted updates that no iteration applied are reported, not silently dropped. */
  async complete(): Promise<RunResult> {
    const { status, stage0 } = this;
    const config = this.config;
    const last = this.iterations.at(-1)?.iteration ?? 0;
    this.#publish('completed');
    await condition(allHandlersFinished);
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
      configHash: this.#configHash,
      ...(stage0 ? { stage0 } : {}),
      iterations: this.iterations,
      finalModel: status.policyModel,
      ...(last < config.iterations ? { stoppedAfter: last } : {}),
      ...(unapplied.length > 0 ? { unapplied: { changes: unapplied, config } } : {}),
    };
  }
}
