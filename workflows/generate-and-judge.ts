import { setCurrentDetails } from '@temporalio/workflow';
import { mapLimit } from '../core/concurrency.js';
import type { Judge } from '../core/config.js';
import type { Manifest } from '../core/records.js';
import { shardsOf } from '../core/shards.js';
import type { Strategy } from '../core/strategies.js';
import type { GenerationParams, ModelRef } from '../core/steps.js';
import { shardWork } from './activities.js';
import type { IterationContext } from './iteration-context.js';

/**
 * Steps 1-3, sample -> self-refine -> judge, for every shard in the strategy's shape (N chains of depth
 * K); a shard moves on as soon as its own previous step is done. `phase` names the outputs' folder.
 */
export async function generateAndJudge(
  it: IterationContext,
  phase: string,
  prompts: Manifest,
  model: ModelRef,
  params: Omit<GenerationParams, 'samples'>,
  strategy: Strategy,
  judge: Judge = it.config.judge,
) {
  const { config, progress } = it;
  const shards = shardsOf(prompts, config.shardSize, config.maxShards);
  progress.shards = shards.length;
  progress.shardsDone = 0;
  const results = await mapLimit(shards, config.maxShardsInFlight, async (shard) => {
    const label = `${phase} shard ${shard.index + 1}/${shard.count}`;
    const base = { shard, policy: model, params: { ...params, samples: strategy.samples } };
    await it.unpaused(`sample ${label}`);
    const answers = await shardWork.sampleShard.executeWithOptions({ summary: `sample ${label}` }, [
      { ...base, scope: it.scope(`${phase}/sample`) },
    ]);
    // Depth 1 has nothing to refine.
    const refine = strategy.depth > 1;
    if (refine) await it.unpaused(`refine ${label}`);
    const refined = refine
      ? await shardWork.refineChain.executeWithOptions(
          { summary: `refine ${label} (depth ${strategy.depth})` },
          [
            {
              ...base,
              scope: it.scope(`${phase}/refine`),
              answers,
              chainDepth: strategy.depth,
              refinement: config.refinement,
            },
          ],
        )
      : null;
    const generations = refined ? [answers, refined] : [answers];
    await it.unpaused(`judge ${label}`);
    const scores = await shardWork.judgeShard.executeWithOptions({ summary: `judge ${label}` }, [
      { scope: it.scope(`${phase}/judge`), shard, generations, judge },
    ]);
    progress.shardsDone++;
    setCurrentDetails(
      `iteration ${it.iteration}: ${progress.step}, ${phase} shards ${progress.shardsDone}/${progress.shards} done`,
    );
    return { shard, answers, refined, generations, scores };
  });
  for (const [step, ms] of [
    ['sample', results.map((r) => r.answers)],
    ['refine', results.flatMap((r) => (r.refined ? [r.refined] : []))],
    ['judge', results.map((r) => r.scores)],
  ] as const) {
    if (ms.length === 0) continue;
    it.report(`${phase}:${step}`, {
      rows: ms.reduce((n, m) => n + m.rows, 0),
      wallMs: ms.reduce((n, m) => n + m.wallMs, 0),
      uri: ms[0]!.uri.slice(0, ms[0]!.uri.lastIndexOf('/')),
      reused: ms.every((m) => m.reused),
    });
  }
  return {
    generations: results.flatMap((r) => r.generations),
    scores: results.map((r) => r.scores),
    shards: results.map(({ shard, generations, scores }) => ({ shard, generations, scores })),
  };
}

export type Generated = Awaited<ReturnType<typeof generateAndJudge>>;
