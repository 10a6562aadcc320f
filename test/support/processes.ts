import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

const cmdline = (pid: string) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};

/** Pids of this machine's processes whose command line holds every marker (Linux /proc). */
export const processesWith = (...markers: string[]): number[] =>
  readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid) && markers.every((m) => cmdline(pid).includes(m)))
    .map(Number);

interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  cmdline: string;
}

/** Every process of this machine with its parent and process group (Linux /proc; none elsewhere). */
function processTable(): Proc[] {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return [];
  }
  return pids.flatMap((pid) => {
    try {
      // The command name (in parentheses) may hold spaces: the fields after it are fixed.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [, ppid, pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return [{ pid: Number(pid), ppid: Number(ppid), pgid: Number(pgid), cmdline: cmdline(pid) }];
    } catch {
      return []; // gone meanwhile
    }
  });
}

/** The processes `root` started, directly or through its children, still alive now. */
export function descendants(root: number): Proc[] {
  const table = processTable();
  const found: Proc[] = [];
  const parents = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of table) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        found.push(p);
        grew = true;
      }
    }
  }
  return found;
}

/**
 * A server started `detached` (a process group of its own, with the helpers it starts): why it is gone
 * (null while it runs), and a stop that ends the whole group, SIGTERM first and SIGKILL for what is left
 * after 5 s, returning once nothing of the group runs (or 5 s more).
 */
export function processGroup(child: ChildProcess, log?: string) {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, s);
      return true;
    } catch {
      return false; // the group is gone
    }
  };
  const groupGone = async () => {
    for (let i = 0; i < 50 && processTable().some((p) => p.pgid === child.pid); i++) await sleep(100);
  };
  return {
    exit: () =>
      child.exitCode === null && child.signalCode === null
        ? null
        : `exited (${child.exitCode ?? child.signalCode})${log ? `; see ${log}` : ''}`,
    stop: async () => {
      if (!signal('SIGTERM')) return;
      await groupGone();
      if (signal('SIGKILL')) await groupGone();
    },
  };
}

/** True while `p` still runs as the same program (a reused pid is another process). */
export const stillRuns = (p: Proc): boolean => cmdline(String(p.pid)) === p.cmdline && p.cmdline !== '';

const cleanups = new Set<() => void>();

/** Kills, with SIGKILL, every process this test process started, and whatever the cleanups name. */
function reap(): void {
  // Listed before any is killed: a killed parent hands its children to init, out of the tree.
  const started = descendants(process.pid);
  for (const cleanup of cleanups) {
    try {
      cleanup();
    } catch {
      /* best effort: the process is exiting */
    }
  }
  for (const p of started) {
    try {
      // A detached service leads its own group (its helpers with it); a plain child shares ours.
      process.kill(p.pgid === p.pid ? -p.pid : p.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

let installed = false;

/**
 * Makes every process this test process starts die with it: on exit, on SIGINT/SIGTERM/SIGHUP, and when
 * its parent (the `node --test` runner, which does not pass signals on to its test files) goes away.
 * Servers are detached (their own process group) so a test can stop them cleanly; that also keeps them
 * from the terminal's Ctrl-C, hence this. `cleanup` is for a process outside the tree (double-forked).
 */
export function reapOnExit(cleanup?: () => void): void {
  if (cleanup) cleanups.add(cleanup);
  if (installed) return;
  installed = true;
  process.on('exit', reap);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      reap();
      process.exit(128 + constants.signals[signal]);
    });
  }
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) {
      reap();
      process.exit(128 + constants.signals.SIGTERM);
    }
  }, 500).unref();
}
