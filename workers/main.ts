import { getHeapStatistics } from 'node:v8';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { temporalConnection } from '../client/temporal-connection.js';
import { prebuiltBundle } from './bundle.js';
import { warnNearHeapLimit } from './heap.js';
import { installRuntime, runtimeSettings, workerUmask } from './runtime.js';
import { workerTracing } from './tracing.js';
import { createEvolveWorker } from './worker.js';

/** The worker process: every evolve activity and workflow on one task queue. */
async function main(): Promise<void> {
  const { namespace, ...options } = temporalConnection({ address: '127.0.0.1:7233', namespace: 'default' });
  const address = options.address;
  const taskQueue = process.env.EVOLVE_TASK_QUEUE ?? 'evolve';
  // Artifacts, journals and logs the worker creates are its owner's only (EVOLVE_UMASK, default 077).
  process.umask(workerUmask());
  const settings = runtimeSettings();
  installRuntime(settings);
  const log = Runtime.instance().logger;
  const tracing = workerTracing();
  const connection = await NativeConnection.connect(options);
  try {
    // A workflow bundle made by `npm run build` (or named by EVOLVE_WORKFLOW_BUNDLE) saves bundling at each
    // start; with tracing on, the worker bundles its own, with the workflow side of the tracing in it.
    const bundle = tracing ? undefined : (process.env.EVOLVE_WORKFLOW_BUNDLE ?? prebuiltBundle());
    const worker = await createEvolveWorker({
      connection,
      namespace,
      taskQueue,
      ...(bundle ? { workflowBundle: { codePath: bundle } } : {}),
      ...(tracing ? { tracing } : {}),
    });
    log.info(`evolve worker: task queue "${taskQueue}" on ${address} (namespace ${namespace})`, {
      taskQueue,
      address,
      namespace,
      // The heap cap (EVOLVE_WORKER_HEAP_MB, set by `npm run worker` and `evolve up`) bounds its memory.
      heapLimitMb: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20),
      ...(settings.metrics ? { metrics: `http://${settings.metrics}/metrics` } : {}),
      ...(tracing ? { traces: 'OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT)' } : {}),
    });
    warnNearHeapLimit((message) => log.warn(message));
    // SIGINT/SIGTERM start a graceful shutdown: no new tasks, running activities get shutdownGraceTime.
    await worker.run();
  } finally {
    await connection.close();
    await tracing?.shutdown();
  }
}

main().catch((err: unknown) => {
  console.error(`evolve worker failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
