import { mapLimit } from '../core/concurrency.js';
import type { PromptSource, Suite } from '../core/config.js';
import type { Manifest } from '../core/records.js';
import { evaluationStrategy, type Strategy } from '../core/strategies.js';
import type { EvalSummary, GenerationParams, ModelRef } from '../core/steps.js';
import type { SuiteSummary } from '../core/suites.js';
import { bookkeeping, shardWork } from './activities.js';
import { generateAndJudge } from './generate-and-judge.js';
import type { IterationContext } from './iteration-context.js';

/** A suite's prompts: the accuracy suite's source, or the official AlpacaEval / Arena-Hard file. */
export const suiteSource = (suite: Suite): PromptSource =>
  suite.kind === 'accuracy'
    ? suite.prompts
    : { kind: 'file', path: suite.prompts, format: suite.kind, limit: suite.limit };

/** How the evaluation and every suite generate: the evaluation's strategy and sampling. */
interface EvalPlan {
  model: ModelRef;
  params: Omit<GenerationParams, 'samples'>;
  strategy: Strategy;
  rounds: number;
}

/**
 * Steps 7-8: evaluate `served`, the direct answer and each refinement round on the held-out prompts,
 * then every benchmark suite, generated like the evaluation and judged and scored by the suite's rules.
 */
export async function evaluatePolicy(
  it: IterationContext,
  served: ModelRef,
): Promise<{ evaluation: EvalSummary; suites: SuiteSummary[] }> {
  const { config } = it;
  await it.enter('evaluate');
  // The evaluation's own server, when it has one, loads the checkpoint by path on its first request.
  const model = config.evaluation.endpoint ? { ...served, endpoint: config.evaluation.endpoint } : served;
  const prompts = await bookkeeping.loadPrompts.executeWithOptions({ summary: 'load evaluation prompts' }, [
    { scope: it.scope('eval'), sources: [config.evaluation.prompts], seedOffset: 0 },
  ]);
  const strategy = evaluationStrategy(config.evaluation);
  const plan: EvalPlan = {
    model,
    strategy,
    rounds: strategy.depth - 1,
    params: {
      temperature: config.evaluation.temperature,
      topP: 1,
      maxTokens: config.evaluation.maxTokens ?? config.sampling.maxTokens,
      seed: config.sampling.seed,
    },
  };
  const { generations, scores } = await generateAndJudge(it, 'eval', prompts, model, plan.params, strategy);
  const evaluation: EvalSummary = await bookkeeping.summarizeEvaluation.executeWithOptions(
    {
      summary: `${strategy.name} (keep ${strategy.keep}): accuracy direct and refine@1..${plan.rounds}`,
    },
    [{ scope: it.scope('eval'), prompts, generations, scores, rounds: plan.rounds, strategy }],
  );
  it.report('evaluate', { rows: evaluation.prompts, wallMs: evaluation.wallMs, uri: evaluation.uri });

  const suites = it.progress.suites!;
  for (const suite of config.evaluation.suites ?? []) suites.push(await scoreSuite(it, suite, plan));
  return { evaluation, suites };
}

/** Step 8, one benchmark suite: generated like the evaluation, then judged and scored by its rules. */
async function scoreSuite(it: IterationContext, suite: Suite, plan: EvalPlan): Promise<SuiteSummary> {
  const { config } = it;
  const { rounds, strategy } = plan;
  const phase = `suite-${suite.name}`;
  await it.enter(phase);
  const prompts: Manifest = await bookkeeping.loadPrompts.executeWithOptions(
    { summary: `load ${suite.kind} suite ${suite.name}` },
    [{ scope: it.scope(phase), sources: [suiteSource(suite)], seedOffset: 0 }],
  );
  // The run's judge picks the kept answer where the strategy keeps the best; gold answers get the suite's verifier.
  const judge = suite.kind === 'accuracy' ? { ...config.judge, verifier: suite.verifier } : config.judge;
  const generated = await generateAndJudge(it, phase, prompts, plan.model, plan.params, strategy, judge);
  const verdicts =
    suite.kind === 'accuracy'
      ? []
      : await mapLimit(generated.shards, config.maxShardsInFlight, async ({ shard, generations, scores }) => {
          const label = `${suite.name} verdicts shard ${shard.index + 1}/${shard.count}`;
          await it.unpaused(label);
          return shardWork.judgeSuiteShard.executeWithOptions({ summary: label }, [
            {
              scope: it.scope(`${phase}/verdicts`),
              suite,
              shard,
              generations,
              scores: [scores],
              rounds,
              strategy,
            },
          ]);
        });
  const summary = await bookkeeping.summarizeSuite.executeWithOptions(
    { summary: `${suite.name}: ${suite.kind} direct and refine@1..${rounds}` },
    [
      {
        scope: it.scope(phase),
        suite,
        prompts,
        generations: generated.generations,
        scores: generated.scores,
        verdicts,
        rounds,
        strategy,
      },
    ],
  );
  it.report(phase, { rows: summary.prompts, wallMs: summary.wallMs, uri: summary.uri });
  return summary;
}
