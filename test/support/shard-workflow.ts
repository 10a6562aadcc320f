import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import type { Manifest } from '../../core/records.js';
import type { RefineChainInput, SampleShardInput } from '../../core/steps.js';

// The shard activities with a 5 s heartbeat timeout, so a Temporal outage of a few seconds times an
// attempt out (the product's is one minute): the case where two attempts of a shard overlap.
const { sampleShard, refineChain } = proxyActivities<Activities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '5s',
  retry: { initialInterval: '1s', maximumInterval: '2s' },
});

export async function sampleAndRefineShard(
  sample: SampleShardInput,
  refine: Omit<RefineChainInput, 'answers'>,
): Promise<Manifest[]> {
  const answers = await sampleShard(sample);
  return [answers, await refineChain({ ...refine, answers })];
}
