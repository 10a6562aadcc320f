import { log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { OutageError } from '../core/outage-error.js';

/** Default outage budget: long enough for a server crash at night to be fixed in the morning. */
export const DEFAULT_OUTAGE_BUDGET_HOURS = 24;

const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

const watches = new Set<OutageWatch>();

/** A line in the worker log, from inside an activity (outside one there is nobody to tell). */
export function activityLine(
  level: 'info' | 'warn',
  message: string,
  meta: Record<string, unknown> = {},
): void {
  try {
    log[level](message, meta);
  } catch {
    // outside an activity
  }
}

/**
 * Whether a server has been unreachable (connection errors, timeouts, 5xx) since its last good reply,
 * and for how long. Requests to a server that is down are retried until it has been down for the
 * outage budget; the state is shown in every heartbeat of the worker's activities (see heartbeat.ts).
 */
export class OutageWatch {
  downSince: number | null = null;
  attempts = 0;
  lastSuccess = 0;
  last = '';

  constructor(
    readonly name: string,
    budgetHours: number | undefined,
  ) {
    this.budgetMs = (budgetHours ?? DEFAULT_OUTAGE_BUDGET_HOURS) * 3_600_000;
    watches.add(this);
  }

  readonly budgetMs: number;

  succeeded(): void {
    this.lastSuccess = Date.now();
    if (this.downSince === null) return;
    activityLine('info', `${this.name} is back after ${this.attempts} failed attempts`, {
      endpoint: this.name,
    });
    this.downSince = null;
    this.attempts = 0;
  }

  failed(message: string): void {
    this.last = message;
    this.attempts++;
    if (this.downSince !== null) return;
    this.downSince = Date.now();
    activityLine('warn', `${this.name} is unreachable, waiting for it: ${message}`, { endpoint: this.name });
  }

  /** True once the server has been down, with no good reply from it, for longer than the budget. */
  get exhausted(): boolean {
    return this.downSince !== null && Date.now() - this.downSince > this.budgetMs;
  }

  /** A request failing again and again while others get replies: the request is at fault, not the server. */
  othersSucceededSince(since: number): boolean {
    return this.lastSuccess > since;
  }

  get state(): string | null {
    if (this.downSince === null) return null;
    return `waiting for ${this.name} since ${hhmm(this.downSince)} UTC, ${this.attempts} attempts; last: ${this.last}`;
  }

  /** No longer shown in heartbeats: for a watch that lives as long as one activity. */
  release(): void {
    watches.delete(this);
  }

  giveUpMessage(): string {
    return `${this.name} has been down since ${new Date(this.downSince ?? Date.now()).toISOString()}, longer than its outage budget (outageBudgetHours ${this.budgetMs / 3_600_000}); last: ${this.last}`;
  }
}

/** What this worker is waiting for now, for heartbeat details: one line per server that is down. */
export function outages(): string[] {
  return [...watches].flatMap((w) => (w.state ? [w.state] : []));
}

const BACKOFF_MAX_MS = 10_000;

/**
 * Runs `call` until it succeeds, waiting out OutageErrors with capped, jittered backoff for the
 * watch's budget; any other error is thrown at once.
 */
export async function waitingOut<T>(
  watch: OutageWatch,
  call: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await call();
      watch.succeeded();
      return result;
    } catch (err) {
      if (!(err instanceof OutageError) || signal?.aborted) throw err;
      watch.failed(err.message);
      if (watch.exhausted) throw ApplicationFailure.nonRetryable(watch.giveUpMessage(), 'ServerUnavailable');
      const wait = Math.min(BACKOFF_MAX_MS, 100 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      await sleep(wait, undefined, { signal });
    }
  }
}
