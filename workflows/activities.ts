import { ActivityCancellationType, proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { RunConfig, Serve } from '../core/config.js';
import type { Activities } from '../activities/index.js';

/** Retry shape for steps that call servers: transient faults back off, bad input fails at once. */
const retry = { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 20 };

/** Short bookkeeping steps. */
export const bookkeeping = proxyActivities<Activities>({ startToCloseTimeout: '10m', retry });

/** Shard work heartbeats every 10 s, so a dead worker is noticed within a minute and its shard resumed. */
export const shardWork = proxyActivities<Activities>({
  startToCloseTimeout: '12h',
  heartbeatTimeout: '1m',
  retry,
});

/** Training owns an external job: cancellation waits until the job is really gone. */
export const training = proxyActivities<Activities>({
  startToCloseTimeout: '14d',
  heartbeatTimeout: '1m',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

/**
 * Serving heartbeats while it waits (a restarted server may take long to load full weights); its
 * deadline is the restart's health timeout plus time for the hook and the probes.
 */
export const serveOptions = (serve: Serve | undefined, summary: string): ActivityOptions => ({
  summary,
  startToCloseTimeout: serve?.kind === 'restart' ? serve.healthTimeoutMs * 2 + 600_000 : '10m',
  heartbeatTimeout: '1m',
});

/** The reuse indexes steps look finished outputs up in: this run's, then those of the runs it reuses. */
export const reuseIndexes = (config: RunConfig) =>
  [config.runId, ...(config.reuseFrom ?? [])].map((run) => `${config.artifactRoot}/${run}/cas`);
