import { NativeConnection } from '@temporalio/worker';
import { createEvolveWorker } from './worker.js';

/** The worker process: every evolve activity and workflow on one task queue. */
async function main(): Promise<void> {
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const taskQueue = process.env.EVOLVE_TASK_QUEUE ?? 'evolve';
  const connection = await NativeConnection.connect({ address });
  try {
    const worker = await createEvolveWorker({ connection, namespace, taskQueue });
    console.log(`evolve worker: task queue "${taskQueue}" on ${address} (namespace ${namespace})`);
    await worker.run();
  } finally {
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(`evolve worker failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
