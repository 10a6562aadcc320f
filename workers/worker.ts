import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { PayloadCodec } from '@temporalio/common';
import { createActivities, type ActivityDeps, defaultDeps } from '../activities/index.js';
import { codecsFromEnv } from '../codec/encryption.js';
import { activityLog } from './activity-log.js';
import { bundleWorkflowsApart } from './bundle.js';
import { withTracing, type WorkerTracing } from './tracing.js';

export { workflowsPath } from './bundle.js';

export interface EvolveWorkerOptions {
  connection: NativeConnection;
  /** The profile's (client/temporal-connection.ts); the SDK's "default" when unset. */
  namespace?: string;
  taskQueue: string;
  deps?: ActivityDeps;
  /** Pre-bundled workflow code (tests bundle once); otherwise `workflows/` is bundled in a child process. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Payload encryption; by default from EVOLVE_CODEC_KEY (none when unset). */
  payloadCodecs?: PayloadCodec[];
  /** Spans over OTLP (workerTracing()); a workflowBundle given with it must hold tracingWorkflowModules. */
  tracing?: WorkerTracing;
}

/** In-flight shards get time to journal their last rows on SIGTERM instead of being cut at once. */
export const SHUTDOWN_GRACE = '10s';

export async function createEvolveWorker(options: EvolveWorkerOptions): Promise<Worker> {
  return Worker.create(
    withTracing(
      {
        connection: options.connection,
        ...(options.namespace ? { namespace: options.namespace } : {}),
        taskQueue: options.taskQueue,
        activities: createActivities(options.deps ?? defaultDeps()),
        dataConverter: { payloadCodecs: options.payloadCodecs ?? codecsFromEnv() },
        workflowBundle:
          options.workflowBundle ?? (await bundleWorkflowsApart({ traced: Boolean(options.tracing) })),
        shutdownGraceTime: SHUTDOWN_GRACE,
        maxConcurrentActivityTaskExecutions: 16,
        // Shards heartbeat their rows every 10 s (activities/heartbeat.ts); the default throttle would send
        // them on every 48 s (0.8 x the 1 min heartbeat timeout), so `evolve run` and `show` lagged that far.
        maxHeartbeatThrottleInterval: '10s',
        interceptors: { activity: [activityLog] },
      },
      options.tracing,
    ),
  );
}
