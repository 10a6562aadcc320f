/**
 * Maps `fn` over `items` with at most `limit` calls in flight, keeping the order of results.
 * After a failure no new call starts, but calls already in flight finish (their results may already be
 * paid for and journalled) before the first error is thrown. Pure promise code, so workflows use it as
 * a sliding window over activities, and activities over requests.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !failure) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  });
  await Promise.all(lanes);
  if (failure) throw failure.error;
  return results;
}

/**
 * A counting semaphore whose releasing holder hands its slot straight to the next waiter. Waiters are
 * served by priority, then in order: `starting` (a caller with nothing under way yet), `continuing`
 * (work already begun that needs a slot again), then the rest.
 */
export function semaphore(limit: number) {
  let active = 0;
  const queues = {
    starting: [] as (() => void)[],
    continuing: [] as (() => void)[],
    rest: [] as (() => void)[],
  };
  return {
    async acquire(priority: keyof typeof queues = 'rest'): Promise<void> {
      if (active >= limit) await new Promise<void>((resolve) => queues[priority].push(resolve));
      else active++;
    },
    release(): void {
      const next = queues.starting.shift() ?? queues.continuing.shift() ?? queues.rest.shift();
      if (next) next();
      else active--;
    },
    /**
     * Between two requests of one piece of work: gives the slot to a starting caller if one waits, and
     * takes the next free one ahead of new work. A step that starts is not queued behind every chain.
     */
    async yieldToStarting(): Promise<void> {
      if (queues.starting.length === 0) return;
      this.release();
      await this.acquire('continuing');
    },
  };
}

/** Slots shared with other callers: a call holds one from taking its item to its end. */
export type Admission = ReturnType<typeof semaphore>;

/**
 * Calls `fn` on each item of `items`, read as it goes (a stream is not held in memory), with at most
 * `limit` calls in flight and, with `admission`, each holding one of its slots. One loop takes the
 * items, so a caller waits for at most one slot at a time: callers sharing an admission take turns,
 * and a caller with nothing under way goes first, so a step that starts is not queued behind the
 * others' work. Failures as in mapLimit.
 */
export async function forEachLimit<T>(
  items: Iterable<T> | AsyncIterable<T>,
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
  admission?: Admission,
): Promise<void> {
  const source = Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  const running = new Set<Promise<void>>();
  // Woken when a call ends (Promise.race over the running calls would add a reaction to each, each time).
  let ended: (() => void) | undefined;
  let failure: { error: unknown } | undefined;
  for (let index = 0; ; index++) {
    while (running.size >= limit) await new Promise<void>((resolve) => (ended = resolve));
    if (failure) break;
    await admission?.acquire(running.size === 0 ? 'starting' : 'rest');
    let next: IteratorResult<T> | undefined;
    try {
      if (!failure) next = await source.next();
    } catch (error) {
      failure ??= { error };
    }
    if (!next || next.done) {
      admission?.release();
      break;
    }
    const call: Promise<void> = fn(next.value, index)
      .catch((error: unknown) => void (failure ??= { error }))
      .finally(() => {
        admission?.release();
        running.delete(call);
        ended?.();
      });
    running.add(call);
  }
  await Promise.all(running);
  if (failure) {
    await source.return?.();
    throw failure.error;
  }
}
