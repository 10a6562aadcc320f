import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { FakeStats, FaultPlan } from '../test/support/fake-openai.js';

const children = new Set<ChildProcess>();
process.once('exit', () => children.forEach((child) => child.kill('SIGTERM')));

/** Runs a TypeScript file of bench/ in a child node process; resolves with its first JSON stdout line. */
export function runChild<T>(
  file: string,
  arg: unknown,
  nodeFlags: string[] = [],
): { child: ChildProcess; first: Promise<T> } {
  const path = fileURLToPath(new URL(file, import.meta.url));
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', path, JSON.stringify(arg)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
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
  baseUrl: string;
  stats(): Promise<FakeStats>;
  stop(): void;
}

export async function startFakeProcess(plan: FaultPlan): Promise<FakeProcess> {
  const { child, first } = runChild<{ baseUrl: string }>('./fake-server.ts', plan);
  const { baseUrl } = await first;
  return {
    baseUrl,
    stats: async () => (await (await fetch(`${baseUrl}/stats`)).json()) as FakeStats,
    stop: () => void child.kill('SIGTERM'),
  };
}
