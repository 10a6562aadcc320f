import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

/**
 * The worker's V8 heap cap, in MB (`EVOLVE_WORKER_HEAP_MB`, default 256). Uncapped, V8 sizes its heap
 * from the machine's memory and lets garbage pile up to several times the live set between full
 * collections: at 100k prompts the worker's live heap stayed under 100 MB while its resident memory
 * passed 560 MB. The cap also lowers V8's heap growing factor. Shard steps keep their rows on disk, so
 * the live heap is the chains under way (docs/operations.md, Worker memory): raise the cap for long
 * responses or a high maxConcurrency.
 */
export function workerHeapFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const mb = env.EVOLVE_WORKER_HEAP_MB ?? '256';
  if (!/^[1-9]\d*$/.test(mb)) throw new Error(`EVOLVE_WORKER_HEAP_MB: expected a number of MB, got "${mb}"`);
  return [`--max-old-space-size=${mb}`];
}

/** Calls `fn` with the heap in use just after each full collection (the live set); returns a stop. */
export function afterFullGc(fn: (liveBytes: number) => void): () => void {
  const observer = new PerformanceObserver((list) => {
    const kinds = list.getEntries().map((e) => (e as unknown as { detail?: { kind?: number } }).detail?.kind);
    if (kinds.includes(constants.NODE_PERFORMANCE_GC_MAJOR)) fn(process.memoryUsage().heapUsed);
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}

/**
 * Warns (at most once a minute) when the live heap passes three quarters of the cap: past the cap the
 * process dies, and every restart would die on the same shards.
 */
export function warnNearHeapLimit(warn: (message: string) => void): () => void {
  const limit = getHeapStatistics().heap_size_limit;
  let last = 0;
  return afterFullGc((live) => {
    if (live < 0.75 * limit || Date.now() - last < 60_000) return;
    last = Date.now();
    warn(
      `live heap ${Math.round(live / 2 ** 20)} MB of a ${Math.round(limit / 2 ** 20)} MB cap: raise EVOLVE_WORKER_HEAP_MB or lower the endpoint's maxConcurrency`,
    );
  });
}
