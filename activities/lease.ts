import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeAtomic } from '../storage/files.js';
import { heartbeat } from './heartbeat.js';

/** How often a holder re-reads the lease and renews its owner file. */
const POLL_MS = 500;
const RENEW_MS = 2_000;
/** An owner file not renewed for this long belongs to a dead process. */
export const STALE_MS = 15_000;

interface LeaseRecord {
  /** Workflow run and activity id: attempts are compared only within one activity. */
  activity: string;
  attempt: number;
  owner: string;
}

let owners = 0;

function identity(): LeaseRecord {
  const owner = `${hostname()}-${process.pid}-${owners++}`;
  try {
    const { info } = Context.current();
    return { activity: `${info.workflowExecution?.runId}/${info.activityId}`, attempt: info.attempt, owner };
  } catch {
    return { activity: owner, attempt: 1, owner }; // outside an activity (bench loops): never outranked
  }
}

const superseded = (path: string, by: string) =>
  ApplicationFailure.retryable(`${path}: superseded by a newer attempt (${by}); stopped`, 'ShardSuperseded');

/**
 * Fencing of one shard's journal: at most one live attempt sends requests and writes rows for it.
 * `<journal>.lease` names the holder; each live attempt renews its own `<journal>.owner-<id>` file.
 * A new attempt writes the lease, then waits until every other owner file is gone (its attempt has
 * drained its requests in flight into the journal) or stale (its process died), and only then reads
 * the journal. A holder that sees the lease name someone else, or that Temporal gave up on (heartbeat
 * timeout, not found), sends nothing more, lets its requests in flight land in the journal and exits
 * without writing the output. A later attempt of the same activity outranks an earlier one, never the
 * reverse; any other newcomer (a reset run) takes over.
 */
export class ShardLease {
  private readonly stop = new AbortController();
  private readonly cancel = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private lostTo = '';
  private readonly ownerFile: string;

  private constructor(
    private readonly path: string,
    private readonly me: LeaseRecord,
  ) {
    this.ownerFile = `${path}.owner-${me.owner}`;
  }

  /** Aborts when this attempt must send nothing more (superseded); requests in flight are left to land. */
  get stopSignal(): AbortSignal {
    return this.stop.signal;
  }

  /** Aborts requests in flight: only a real cancellation (not a timeout Temporal noticed) does that. */
  get abortSignal(): AbortSignal {
    return this.cancel.signal;
  }

  get lost(): boolean {
    return this.stop.signal.aborted;
  }

  /** Throws if this attempt was superseded: call before each request and before writing the output. */
  check(): void {
    if (this.lost) throw superseded(this.path, this.lostTo);
  }

  static async acquire(journalPath: string): Promise<ShardLease> {
    const lease = new ShardLease(`${journalPath}.lease`, identity());
    await lease.take();
    return lease;
  }

  private async read(): Promise<LeaseRecord | null> {
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as LeaseRecord;
    } catch {
      return null;
    }
  }

  private async take(): Promise<void> {
    const current = await this.read();
    if (
      current &&
      current.activity === this.me.activity &&
      current.attempt > this.me.attempt &&
      (await alive(`${this.path}.owner-${current.owner}`))
    )
      throw superseded(this.path, describe(current));
    await mkdir(dirname(this.path), { recursive: true });
    await writeFile(this.ownerFile, '');
    await writeAtomic(this.path, JSON.stringify(this.me));
    this.watch();
    // Wait for earlier holders to drain (or be found dead) before anyone reads the journal.
    for (;;) {
      const others = await this.otherOwners();
      if (others.length === 0) break;
      this.check();
      heartbeat({ waitingFor: `earlier attempt of ${basename(this.path)} to finish its requests` });
      await sleep(POLL_MS);
    }
    this.check();
  }

  private async otherOwners(): Promise<string[]> {
    const prefix = `${basename(this.path)}.owner-`;
    const files = (await readdir(dirname(this.path))).filter(
      (f) => f.startsWith(prefix) && f !== basename(this.ownerFile),
    );
    const live: string[] = [];
    for (const f of files) {
      const path = join(dirname(this.path), f);
      if (await alive(path)) live.push(f);
      else await rm(path, { force: true });
    }
    return live;
  }

  private watch(): void {
    let renewed = Date.now();
    this.timer = setInterval(() => {
      void (async () => {
        const current = await this.read();
        if (current && current.owner !== this.me.owner) this.supersede(describe(current));
        if (Date.now() - renewed >= RENEW_MS) {
          renewed = Date.now();
          const now = new Date();
          await utimes(this.ownerFile, now, now).catch(() => undefined);
        }
      })();
    }, POLL_MS);
    try {
      const ctx = Context.current();
      const onCancel = () => {
        const details = ctx.cancellationDetails;
        // Temporal gave this attempt up (heartbeat timeout while it was unreachable): a new attempt
        // will resume the journal, so the requests this one has in flight are kept, not thrown away.
        if (details?.timedOut || details?.notFound) this.supersede('Temporal timed this attempt out');
        else this.cancel.abort(ctx.cancellationSignal.reason);
      };
      if (ctx.cancellationSignal.aborted) onCancel();
      else ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
    } catch {
      // outside an activity: no cancellation to follow
    }
  }

  private supersede(by: string): void {
    if (this.lost) return;
    this.lostTo = by;
    this.stop.abort(superseded(this.path, by));
  }

  /** Gives the shard up: the caller has let its requests in flight land in the journal. */
  async release(finished: boolean): Promise<void> {
    clearInterval(this.timer);
    await rm(this.ownerFile, { force: true });
    if (finished && !this.lost) await rm(this.path, { force: true });
  }
}

const describe = (r: LeaseRecord) => `attempt ${r.attempt}, ${r.owner}`;

async function alive(ownerFile: string): Promise<boolean> {
  const s = await stat(ownerFile).catch(() => null);
  return s !== null && Date.now() - s.mtimeMs < STALE_MS;
}
