import {
  condition,
  defineQuery,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { mapLimit } from '../core/concurrency.js';
import type { Judge, PromptSource, RunConfig, Suite } from '../core/config.js';
import type { Manifest } from '../core/records.js';
import { IterationKey, StepKey } from '../core/search-attributes.js';
import { shardsOf } from '../core/shards.js';
import { evaluationStrategy, trainingStrategy, type Strategy } from '../core/strategies.js';
import type { EvalSummary, GenerationParams, IterationResult, ModelRef, StepReport } from '../core/steps.js';
import type { SuiteSummary } from '../core/suites.js';
import { fnv1a64 } from '../core/templates.js';
import { bookkeeping, reuseIndexes, serveOptions, shardWork, training } from './activities.js';
import { pauseSignal, resumeSignal } from './control.js';

export interface IterationInput {
  config: RunConfig;
  configHash: string;
  iteration: number;
  /** The policy pi_t this iteration samples from and trains. */
  policyModel: string;
  /** Start paused (the run was paused when this iteration began). */
  paused?: boolean;
  /** What the server answers with now, where that is not policyModel (keepBest went back, stage 0 trained): served first. */
  serving?: string;
}

export interface IterationProgress {
  iteration: number;
  step: string;
  paused: boolean;
  shardsDone: number;
  shards: number;
  steps: StepReport[];
  /** The benchmark suites scored so far in this iteration (absent in workflows started before suites). */
  suites?: SuiteSummary[];
}

export const iterationProgressQuery = defineQuery<IterationProgress>('progress');

/** A suite's prompts: the accuracy suite's source, or the official AlpacaEval / Arena-Hard file. */
const suiteSource = (suite: Suite): PromptSource =>
  suite.kind === 'accuracy'
    ? suite.prompts
    : { kind: 'file', path: suite.prompts, format: suite.kind, limit: suite.limit };

/** One EVOLVE iteration: sample -> self-refine -> judge -> pair -> train -> serve -> evaluate. */
export async function evolveIteration({
  config,
  configHash,
  iteration,
  policyModel,
  paused = false,
  serving,
}: IterationInput): Promise<IterationResult> {
  const root = `${config.artifactRoot}/${config.runId}/iter-${iteration}`;
  // Steps find finished outputs in this run's reuse index, then in those of the runs it reuses.
  const indexes = reuseIndexes(config);
  const scope = (dir: string) => ({ runId: config.runId, iteration, dir: `${root}/${dir}`, indexes });
  const progress: IterationProgress = {
    iteration,
    step: 'prompts',
    paused,
    shardsDone: 0,
    shards: 0,
    steps: [],
    suites: [],
  };
  setHandler(iterationProgressQuery, () => progress);
  setHandler(pauseSignal, () => void (progress.paused = true));
  setHandler(resumeSignal, () => void (progress.paused = false));
  /** Work starts only while not paused: a pause lets running activities finish, then holds. */
  const unpaused = async (next: string) => {
    if (progress.paused) setCurrentDetails(`iteration ${iteration}: paused before ${next}`);
    await condition(() => !progress.paused);
  };
  const enter = async (step: string) => {
    await unpaused(step);
    progress.step = step;
    setCurrentDetails(`iteration ${iteration}: ${step}`);
    upsertSearchAttributes([{ key: StepKey, value: step }]);
  };
  const report = (
    step: string,
    m: { rows: number; wallMs: number; uri: string; reused?: boolean; stats?: Record<string, number> },
  ) => {
    // What the step left out and why (droppedContaminated, droppedBelowMargin, ...), when anything.
    const dropped = Object.entries(m.stats ?? {}).filter(([k, n]) => k.startsWith('dropped') && n > 0);
    progress.steps.push({
      iteration,
      step,
      rows: m.rows,
      wallMs: m.wallMs,
      uri: m.uri,
      reused: m.reused ?? false,
      ...(dropped.length > 0 ? { dropped: Object.fromEntries(dropped) } : {}),
    });
  };
  upsertSearchAttributes([{ key: IterationKey, value: iteration }]);

  const policy: ModelRef = { endpoint: config.policy.endpoint, model: policyModel };
  const serveStep = (model: string, replaces: string, summary: string) =>
    bookkeeping.serveCheckpoint.executeWithOptions(serveOptions(config.policy.serve, summary), [
      {
        ...policy,
        model,
        serve: config.policy.serve,
        replaces,
        probe: { temperature: config.sampling.temperature, topP: config.sampling.topP },
      },
    ]);

  /**
   * Sample, refine and judge every shard in the strategy's shape (N chains of depth K); a shard moves on
   * as soon as its own previous step is done.
   */
  async function generateAndJudge(
    phase: string,
    prompts: Manifest,
    model: ModelRef,
    params: Omit<GenerationParams, 'samples'>,
    strategy: Strategy,
    judge: Judge = config.judge,
  ) {
    // Histories recorded before the shard cap replay with shards of shardSize (so do configs without it).
    const cap = patched('max-shards') ? config.maxShards : undefined;
    const shards = shardsOf(prompts, config.shardSize, cap);
    progress.shards = shards.length;
    progress.shardsDone = 0;
    const results = await mapLimit(shards, config.maxShardsInFlight, async (shard) => {
      const label = `${phase} shard ${shard.index + 1}/${shard.count}`;
      const base = { shard, policy: model, params: { ...params, samples: strategy.samples } };
      await unpaused(`sample ${label}`);
      const answers = await shardWork.sampleShard.executeWithOptions({ summary: `sample ${label}` }, [
        { ...base, scope: scope(`${phase}/sample`) },
      ]);
      // Depth 1 has nothing to refine; workflows started before strategies still ran the (empty) step.
      const refine = strategy.depth > 1 || !patched('depth-1-skips-refine');
      if (refine) await unpaused(`refine ${label}`);
      const refined = refine
        ? await shardWork.refineChain.executeWithOptions(
            { summary: `refine ${label} (depth ${strategy.depth})` },
            [
              {
                ...base,
                scope: scope(`${phase}/refine`),
                answers,
                chainDepth: strategy.depth,
                refinement: config.refinement,
              },
            ],
          )
        : null;
      const generations = refined ? [answers, refined] : [answers];
      await unpaused(`judge ${label}`);
      const scores = await shardWork.judgeShard.executeWithOptions({ summary: `judge ${label}` }, [
        { scope: scope(`${phase}/judge`), shard, generations, judge },
      ]);
      progress.shardsDone++;
      setCurrentDetails(
        `iteration ${iteration}: ${progress.step}, ${phase} shards ${progress.shardsDone}/${progress.shards} done`,
      );
      return { shard, answers, refined, generations, scores };
    });
    const generations = results.flatMap((r) => r.generations);
    const scores = results.map((r) => r.scores);
    for (const [step, ms] of [
      ['sample', results.map((r) => r.answers)],
      ['refine', results.flatMap((r) => (r.refined ? [r.refined] : []))],
      ['judge', scores],
    ] as const) {
      if (ms.length === 0) continue;
      report(`${phase}:${step}`, {
        rows: ms.reduce((n, m) => n + m.rows, 0),
        wallMs: ms.reduce((n, m) => n + m.wallMs, 0),
        uri: ms[0]!.uri.slice(0, ms[0]!.uri.lastIndexOf('/')),
        reused: ms.every((m) => m.reused),
      });
    }
    const shardOutputs = results.map(({ shard, generations, scores }) => ({ shard, generations, scores }));
    return { generations, scores, shards: shardOutputs };
  }

  /**
   * 7-8. Evaluate `served`: the direct answer and each refinement round on the held-out prompts, then
   * every benchmark suite, generated like the evaluation and judged and scored by the suite's rules.
   */
  async function evaluatePolicy(
    served: ModelRef,
  ): Promise<{ evaluation: EvalSummary; suites: SuiteSummary[] }> {
    await enter('evaluate');
    // The evaluation's own server, when it has one, loads the checkpoint by path on its first request.
    const evaluated = config.evaluation.endpoint
      ? { ...served, endpoint: config.evaluation.endpoint }
      : served;
    const evalPrompts = await bookkeeping.loadPrompts.executeWithOptions(
      { summary: 'load evaluation prompts' },
      [{ scope: scope('eval'), sources: [config.evaluation.prompts], seedOffset: 0 }],
    );
    const evalStrategy = evaluationStrategy(config.evaluation);
    const evalParams = {
      temperature: config.evaluation.temperature,
      topP: 1,
      maxTokens: config.evaluation.maxTokens ?? config.sampling.maxTokens,
      seed: config.sampling.seed,
    };
    const { generations, scores } = await generateAndJudge(
      'eval',
      evalPrompts,
      evaluated,
      evalParams,
      evalStrategy,
    );
    const rounds = evalStrategy.depth - 1;
    const evaluation: EvalSummary = await bookkeeping.summarizeEvaluation.executeWithOptions(
      {
        summary: `${evalStrategy.name} (keep ${evalStrategy.keep}): accuracy direct and refine@1..${rounds}`,
      },
      [{ scope: scope('eval'), prompts: evalPrompts, generations, scores, rounds, strategy: evalStrategy }],
    );
    report('evaluate', { rows: evaluation.prompts, wallMs: evaluation.wallMs, uri: evaluation.uri });

    // 8. Benchmark suites: generated like the evaluation, then judged and scored by each suite's rules.
    const suites = progress.suites!;
    for (const suite of config.evaluation.suites ?? []) {
      const phase = `suite-${suite.name}`;
      await enter(phase);
      const suitePrompts = await bookkeeping.loadPrompts.executeWithOptions(
        { summary: `load ${suite.kind} suite ${suite.name}` },
        [{ scope: scope(phase), sources: [suiteSource(suite)], seedOffset: 0 }],
      );
      // The run's judge picks the kept answer where the strategy keeps the best; gold answers get the suite's verifier.
      const judge = suite.kind === 'accuracy' ? { ...config.judge, verifier: suite.verifier } : config.judge;
      const generated = await generateAndJudge(
        phase,
        suitePrompts,
        evaluated,
        evalParams,
        evalStrategy,
        judge,
      );
      const verdicts =
        suite.kind === 'accuracy'
          ? []
          : await mapLimit(
              generated.shards,
              config.maxShardsInFlight,
              async ({ shard, generations, scores }) => {
                const label = `${suite.name} verdicts shard ${shard.index + 1}/${shard.count}`;
                await unpaused(label);
                return shardWork.judgeSuiteShard.executeWithOptions({ summary: label }, [
                  {
                    scope: scope(`${phase}/verdicts`),
                    suite,
                    shard,
                    generations,
                    scores: [scores],
                    rounds,
                    strategy: evalStrategy,
                  },
                ]);
              },
            );
      const summary = await bookkeeping.summarizeSuite.executeWithOptions(
        { summary: `${suite.name}: ${suite.kind} direct and refine@1..${rounds}` },
        [
          {
            scope: scope(phase),
            suite,
            prompts: suitePrompts,
            generations: generated.generations,
            scores: generated.scores,
            verdicts,
            rounds,
            strategy: evalStrategy,
          },
        ],
      );
      report(phase, { rows: summary.prompts, wallMs: summary.wallMs, uri: summary.uri });
      suites.push(summary);
    }
    return { evaluation, suites };
  }

  const finish = async (
    checkpoint: string,
    { evaluation, suites }: Awaited<ReturnType<typeof evaluatePolicy>>,
  ) => {
    await enter('done');
    const result: IterationResult = { iteration, checkpoint, evaluation, steps: progress.steps };
    return suites.length > 0 ? { ...result, suites } : result;
  };

  // 0. The server answers with another model than pi_t: after a regression (keepBest) the regressed
  // checkpoint, after stage 0 SFT the base model.
  if (serving !== undefined && serving !== policyModel) {
    await enter('serve-policy');
    await serveStep(policyModel, serving, 'serve the policy of this iteration');
  }

  // Iteration 0: the initial policy pi_1, evaluated before anything is trained (curves start there).
  if (iteration === 0) return finish(policyModel, await evaluatePolicy(policy));

  // 1-3. Sample, self-refine, judge.
  await enter('sample-refine-judge');
  // Training prompts also in the evaluation or a suite are dropped (decontamination); histories recorded
  // before it replay without.
  const heldOut = [config.evaluation.prompts, ...(config.evaluation.suites ?? []).map(suiteSource)];
  const prompts = await bookkeeping.loadPrompts.executeWithOptions({ summary: 'load training prompts' }, [
    {
      scope: scope('train'),
      sources: config.prompts,
      seedOffset: iteration,
      ...(patched('decontaminate') ? { exclude: heldOut } : {}),
    },
  ]);
  report('train:prompts', prompts);
  const { temperature, topP, maxTokens, seed } = config.sampling;
  const train = await generateAndJudge(
    'train',
    prompts,
    policy,
    { temperature, topP, maxTokens, seed },
    trainingStrategy(config.sampling),
  );

  // 4. Pair.
  await enter('pair');
  const pairs = await bookkeeping.buildPairs.executeWithOptions(
    { summary: `build pairs (${config.pairing.rule})` },
    [
      {
        scope: scope('train/pairs'),
        prompts,
        shards: train.shards.map(({ shard: { start, end }, ...outputs }) => ({ start, end, ...outputs })),
        pairing: config.pairing,
        refinement: config.refinement,
      },
    ],
  );
  report('pair', pairs);

  // 5. Train: the job key is the business identity, stable across retries, resets and worker crashes.
  await enter('train');
  // Stage 0 (method.md), optional: self-refinement-aware SFT on sft.jsonl; DPO then trains its result.
  // `sft` is absent from configs of histories recorded before the option: those never ran it.
  const sftWhen = config.trainer.sft?.when ?? 'never';
  let dpoPolicy = policyModel;
  if (sftWhen === 'every' || (sftWhen === 'first' && iteration === 1)) {
    const sftKey = `${config.runId}-iter${iteration}-sft-${fnv1a64(`${configHash}/${policyModel}/${pairs.sha256}`)}`;
    const sftJob = await training.submitTraining.executeWithOptions({ summary: `submit ${sftKey}` }, [
      {
        scope: scope('train/sft'),
        stage: 'sft',
        pairs,
        policyModel,
        referenceModel: policyModel,
        trainer: config.trainer,
        jobKey: sftKey,
      },
    ]);
    const sft = await training.awaitTraining.executeWithOptions({ summary: `train ${sftKey}` }, [sftJob]);
    report('train:sft', { rows: pairs.rows, wallMs: sft.wallMs, uri: sft.path, reused: sft.reused });
    dpoPolicy = sft.path;
  }
  const jobKey = `${config.runId}-iter${iteration}-dpo-${fnv1a64(`${configHash}/${dpoPolicy}/${pairs.sha256}`)}`;
  const job = await training.submitTraining.executeWithOptions({ summary: `submit ${jobKey}` }, [
    {
      scope: scope('train/checkpoint'),
      pairs,
      policyModel: dpoPolicy,
      referenceModel: config.trainer.reference === 'initial' ? config.policy.baseModel : dpoPolicy,
      trainer: config.trainer,
      jobKey,
    },
  ]);
  const checkpoint = await training.awaitTraining.executeWithOptions({ summary: `train ${jobKey}` }, [job]);
  report('train', {
    rows: pairs.rows,
    wallMs: checkpoint.wallMs,
    uri: checkpoint.path,
    reused: checkpoint.reused,
  });

  // 6. Serve the new checkpoint.
  await enter('serve');
  const served = await serveStep(checkpoint.path, policyModel, 'serve the new checkpoint');

  // 7-8. Evaluate the new checkpoint.
  return finish(checkpoint.path, await evaluatePolicy(served));
}
