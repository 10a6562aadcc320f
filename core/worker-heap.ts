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
