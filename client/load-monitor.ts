/**
 * Who used the CPUs while the micro-experiment ran: its own processes (the command, the stack and all
 * they start: servers, trainers) or anything else. The test run must have the cores to itself
 * (docs/results/micro-reproduction.md); results.json keeps this as the record that it did. Linux /proc.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { ExperimentResults } from '../core/experiment-results.js';

const TICKS_PER_SECOND = 100; // USER_HZ: the unit of /proc/<pid>/stat's times on Linux

interface ProcStat {
  ppid: number;
  /** start time since boot: with the pid, names one process even when pids are reused */
  start: string;
  ticks: number;
}

/** One /proc/<pid>/stat line. The command name (field 2) is in parentheses and may hold spaces or ")". */
export function parseProcStat(line: string): ProcStat | null {
  const close = line.lastIndexOf(')');
  if (close < 0) return null;
  const f = line.slice(close + 2).split(' '); // f[0] is field 3 (state): field n is f[n - 3]
  const [ppid, utime, stime, start] = [Number(f[1]), Number(f[11]), Number(f[12]), f[19]];
  if (!Number.isInteger(ppid) || !Number.isFinite(utime) || !Number.isFinite(stime) || !start) return null;
  return { ppid, start, ticks: utime + stime };
}

function readProcs(procDir: string): Map<number, ProcStat> {
  const procs = new Map<number, ProcStat>();
  let names: string[];
  try {
    names = readdirSync(procDir);
  } catch {
    return procs;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = parseProcStat(readFileSync(join(procDir, name, 'stat'), 'utf8'));
      if (stat) procs.set(Number(name), stat);
    } catch {
      // it exited between the listing and the read
    }
  }
  return procs;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Samples every process's CPU time. A process is the experiment's when one of `roots` is among its
 * ancestors. Processes alive at the first sample count from then; later ones count whole. A process
 * that exits loses the time since its last sample, a few seconds at most per process.
 */
export class LoadMonitor {
  private readonly counted = new Map<string, number>();
  private readonly load: number[] = [];
  private readonly started = Date.now();
  private ticks = { experiment: 0, other: 0 };
  private samples = 0;

  constructor(
    private readonly roots: number[],
    private readonly procDir = '/proc',
    private readonly loadNow = () => loadavg()[0]!,
  ) {}

  sample(): void {
    const procs = readProcs(this.procDir);
    if (procs.size === 0) return;
    const roots = new Set(this.roots);
    const ours = (pid: number) => {
      for (let p: number | undefined = pid, hops = 0; p !== undefined && p > 1 && hops < 256; hops++) {
        if (roots.has(p)) return true;
        p = procs.get(p)?.ppid;
      }
      return false;
    };
    for (const [pid, stat] of procs) {
      const key = `${pid}@${stat.start}`;
      const before = this.counted.get(key) ?? (this.samples === 0 ? stat.ticks : 0);
      this.counted.set(key, stat.ticks);
      this.ticks[ours(pid) ? 'experiment' : 'other'] += stat.ticks - before;
    }
    this.load.push(this.loadNow());
    this.samples += 1;
  }

  /** The record for results.json; null where /proc could not be read. */
  summary(now = Date.now()): ExperimentResults['load'] {
    if (this.samples < 2) return null;
    return {
      cpus: cpus().length,
      seconds: (now - this.started) / 1000,
      samples: this.samples,
      loadavg1: { median: median(this.load), max: Math.max(...this.load) },
      cpuSeconds: {
        experiment: this.ticks.experiment / TICKS_PER_SECOND,
        other: this.ticks.other / TICKS_PER_SECOND,
      },
    };
  }
}

/** Starts sampling every `intervalMs`; `stop` takes a last sample and gives the record. */
export function monitorLoad(roots: number[], intervalMs = 15_000) {
  const monitor = new LoadMonitor(roots);
  monitor.sample();
  const timer = setInterval(() => monitor.sample(), intervalMs).unref();
  return {
    stop(): ExperimentResults['load'] {
      clearInterval(timer);
      monitor.sample();
      return monitor.summary();
    },
  };
}
