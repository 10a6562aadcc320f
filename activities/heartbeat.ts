import { Context } from '@temporalio/activity';

/**
 * Heartbeats `details()` every `everyMs` while `work` runs, not only when a row lands: a slow server
 * then cannot make a live shard look dead, and the heartbeat timeout can stay short enough to notice a
 * killed worker within a minute.
 */
export async function withHeartbeat<T>(
  details: () => unknown,
  work: () => Promise<T>,
  everyMs = 10_000,
): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat(details());
  const timer = setInterval(() => ctx.heartbeat(details()), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
