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
