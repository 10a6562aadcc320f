import { condition, setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { RunConfig } from '../core/config.js';
import { IterationKey, StepKey } from '../core/search-attributes.js';
import type { EvalSummary, IterationResult, ModelRef } from '../core/steps.js';
import type { SuiteSummary } from '../core/suites.js';
import { reuseIndexes } from './activities.js';
import { iterationProgressQuery, pauseSignal, resumeSignal, type IterationProgress } from './control.js';

export interface IterationInput {
  config: RunConfig;
  configHash: string;
  iteration: number;
  /** The policy pi_t this iteration samples from and trains. */
  policyModel: string;
  /** pi_1, the policy the run's first iteration trained (stage 0's output, else the base model): `trainer.reference: initial`. */
  initialPolicy?: string;
  /** Start paused (the run was paused when this iteration began). */
  paused?: boolean;
  /** What the server answers with now, where that is not policyModel (keepBest went back, stage 0 trained): served first. */
  serving?: string;
}

/** What a step reports for the progress query and the iteration's result. */
export interface StepMetrics {
  rows: number;
  wallMs: number;
  uri: string;
  reused?: boolean;
  stats?: Record<string, number>;
}

/**
 * The state an iteration's steps share: where they write, the progress the `progress` query answers
 * with, and pause/resume, which hold the next step (running activities finish).
 */
export class IterationContext {
  readonly config: RunConfig;
  readonly iteration: number;
  readonly progress: IterationProgress;
  /** pi_t on the policy's endpoint. */
  readonly policy: ModelRef;
  readonly #root: string;
  // Steps find finished outputs in this run's reuse index, then in those of the runs it reuses.
  readonly #indexes: string[];

  constructor(readonly input: IterationInput) {
    this.config = input.config;
    this.iteration = input.iteration;
    this.policy = { endpoint: input.config.policy.endpoint, model: input.policyModel };
    this.#root = `${input.config.artifactRoot}/${input.config.runId}/iter-${input.iteration}`;
    this.#indexes = reuseIndexes(input.config);
    const progress: IterationProgress = {
      iteration: input.iteration,
      step: 'prompts',
      paused: input.paused ?? false,
      shardsDone: 0,
      shards: 0,
      steps: [],
      suites: [],
    };
    this.progress = progress;
    setHandler(iterationProgressQuery, () => progress);
    setHandler(pauseSignal, () => void (progress.paused = true));
    setHandler(resumeSignal, () => void (progress.paused = false));
    upsertSearchAttributes([{ key: IterationKey, value: input.iteration }]);
  }

  /** Where a step of this iteration writes, and the reuse indexes it looks finished outputs up in. */
  scope(dir: string) {
    return {
      runId: this.config.runId,
      iteration: this.iteration,
      dir: `${this.#root}/${dir}`,
      indexes: this.#indexes,
    };
  }

  /** Work starts only while not paused: a pause lets running activities finish, then holds. */
  async unpaused(next: string): Promise<void> {
    if (this.progress.paused) setCurrentDetails(`iteration ${this.iteration}: paused before ${next}`);
    await condition(() => !this.progress.paused);
  }

  async enter(step: string): Promise<void> {
    await this.unpaused(step);
    this.progress.step = step;
    setCurrentDetails(`iteration ${this.iteration}: ${step}`);
    upsertSearchAttributes([{ key: StepKey, value: step }]);
  }

  report(step: string, m: StepMetrics): void {
    // What the step left out and why (droppedContaminated, droppedBelowMargin, ...), when anything.
    const dropped = Object.entries(m.stats ?? {}).filter(([k, n]) => k.startsWith('dropped') && n > 0);
    this.progress.steps.push({
      iteration: this.iteration,
      step,
      rows: m.rows,
      wallMs: m.wallMs,
      uri: m.uri,
      reused: m.reused ?? false,
      ...(dropped.length > 0 ? { dropped: Object.fromEntries(dropped) } : {}),
    });
  }

  /** Awaits a step's output and reports it under `step`. */
  async reported<M extends StepMetrics>(step: string, output: Promise<M>): Promise<M> {
    const made = await output;
    this.report(step, made);
    return made;
  }

  async finish(
    checkpoint: string,
    { evaluation, suites }: { evaluation: EvalSummary; suites: SuiteSummary[] },
  ): Promise<IterationResult> {
    await this.enter('done');
    const result: IterationResult = {
      iteration: this.iteration,
      checkpoint,
      evaluation,
      steps: this.progress.steps,
    };
    return suites.length > 0 ? { ...result, suites } : result;
  }
}
