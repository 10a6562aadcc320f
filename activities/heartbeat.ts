import { Context } from '@temporalio/activity';
import { outages } from './outage.js';

/** The activity's details, with the servers this worker is waiting out (shown by `temporal activity` and the UI). */
function withOutages(details: unknown): unknown {
  const waiting = outages();
  if (waiting.length === 0) return details;
  return typeof details === 'object' && details !== null ? { ...details, waiting } : { details, waiting };
}

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
  ctx.heartbeat(withOutages(details()));
  const timer = setInterval(() => ctx.heartbeat(withOutages(details())), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
