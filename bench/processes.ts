import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { FakeStats, FaultPlan } from '../test/support/fake-openai.js';

const children = new Set<ChildProcess>();
/** Signals a child's process group: the child and what it started (a pipeline's Temporal dev server). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // The group is gone already.
  }
}
process.once('exit', () => children.forEach((child) => killGroup(child, 'SIGTERM')));
// Children in groups of their own do not get the terminal's Ctrl-C: exit, so that they are ended.
process.once('SIGINT', () => process.exit(130));

/** Whether `taskset` can pin processes here (util-linux, Linux only). */
export const canPin = spawnSync('taskset', ['-p', String(process.pid)]).status === 0;

/**
 * Runs a TypeScript file of bench/ in a child node process; resolves with its first JSON stdout line.
 * `cpus` (a taskset list such as "1") pins it, where taskset exists, so that client and server do not
 * take turns on one core while the other idles.
 */
export function runChild<T>(
  file: string,
  arg: unknown,
  nodeFlags: string[] = [],
  cpus?: string,
): { child: ChildProcess; first: Promise<T> } {
  const path = fileURLToPath(new URL(file, import.meta.url));
  const command = [process.execPath, ...nodeFlags, '--import', 'tsx', path, JSON.stringify(arg)];
  // taskset execs node, so the child's pid is node's (its /proc entry is the worker's).
  const pinned = cpus !== undefined && canPin ? ['taskset', '-c', cpus, ...command] : command;
  // A group of its own: a worker that dies past its heap cap cannot stop the dev server it started,
  // so the group is ended when the child exits.
  const child = spawn(pinned[0]!, pinned.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  children.add(child);
  child.once('exit', () => {
    children.delete(child);
    killGroup(child, 'SIGTERM');
  });
  const first = new Promise<T>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    // Servers the child starts may print to the same stdout: the answer is the line that is JSON.
    lines.on('line', (line) => {
      if (line.startsWith('{"')) resolve(JSON.parse(line) as T);
    });
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code} before answering`)));
  });
  return { child, first };
}

export interface FakeProcess {
  pid: number;
  baseUrl: string;
  /** Every replica's base URL (one unless the plan has a batching fleet). */
  baseUrls: string[];
  stats(): Promise<FakeStats>;
  stop(): void;
}

export async function startFakeProcess(plan: FaultPlan, cpus?: string): Promise<FakeProcess> {
  const { child, first } = runChild<{ baseUrls: string[] }>('./fake-server.ts', plan, [], cpus);
  const { baseUrls } = await first;
  const baseUrl = baseUrls[0]!;
  return {
    pid: child.pid!,
    baseUrl,
    baseUrls,
    stats: async () => (await (await fetch(`${baseUrl}/stats`)).json()) as FakeStats,
    stop: () => void child.kill('SIGTERM'),
  };
}
