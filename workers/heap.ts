import { constants, PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

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
