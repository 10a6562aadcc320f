import { Context } from '@temporalio/activity';
import { redactValue } from '../core/redact.js';
import { outages } from './outage.js';

/** The activity's details, with the servers this worker is waiting out (shown by `temporal activity` and the UI). */
function withOutages(details: unknown): unknown {
  const waiting = outages();
  if (waiting.length === 0) return details;
  return typeof details === 'object' && details !== null ? { ...details, waiting } : { details, waiting };
}

/**
 * The one way an activity heartbeats: its details land in the pending-activity view and the history,
 * and an outage's text may quote a server's reply (a 500 page showing the Authorization header), so
 * they pass the redaction every failure and log line passes. Outside an activity it does nothing.
 */
export function heartbeat(details: unknown): void {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return; // outside an activity
  }
  ctx.heartbeat(redactValue(details));
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
  heartbeat(withOutages(details()));
  const timer = setInterval(() => heartbeat(withOutages(details())), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
