import { existsSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Service, type StackSettings, commandFor, pidFile } from './settings.js';

export function readPid(s: StackSettings, name: Service): number | null {
  if (!existsSync(pidFile(s, name))) return null;
  const pid = Number(readFileSync(pidFile(s, name), 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

export function alive(pid: number | null): pid is number {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A process's argument vector (Linux /proc); null where it cannot be read. */
function argvOf(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return null;
  }
}

/**
 * The pid in the service's pid file when that process is alive and runs the service's command (a pid
 * reused since by another program is not the service). Without /proc a live pid is taken on trust.
 */
export function ownPid(s: StackSettings, name: Service): number | null {
  const pid = readPid(s, name);
  if (!alive(pid)) return null;
  const argv = argvOf(pid);
  if (argv === null) return pid;
  const { cmd, args } = commandFor(s, name);
  const tail = argv.slice(-args.length);
  return argv.includes(cmd) && tail.length === args.length && tail.every((a, i) => a === args[i])
    ? pid
    : null;
}

/** Inodes of the sockets listening on TCP `port` (Linux /proc); null where /proc cannot tell. */
function listenerInodes(port: number): Set<string> | null {
  const inodes = new Set<string>();
  let readable = false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue; // no IPv6
    }
    readable = true;
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st ... inode: the local port is hex, state 0A is LISTEN.
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && parseInt(f[1]!.split(':')[1]!, 16) === port) inodes.add(f[9]!);
    }
  }
  return readable ? inodes : null;
}

/** Whether a process of `pid`'s process group listens on `port`; null where /proc cannot tell. */
export function groupListensOn(pid: number, port: number): boolean | null {
  const inodes = listenerInodes(port);
  if (inodes === null) return null;
  if (inodes.size === 0) return false;
  for (const member of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${member}/stat`, 'utf8');
      // The group is the third field after the command name, which may hold spaces.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== pid) continue;
      for (const fd of readdirSync(`/proc/${member}/fd`)) {
        const target = readlinkSync(`/proc/${member}/fd/${fd}`);
        if (inodes.has(target.match(/^socket:\[(\d+)\]$/)?.[1] ?? '')) return true;
      }
    } catch {
      /* gone, or not ours to read */
    }
  }
  return false;
}

/** Whether something listens on `port` (loopback, where the stack binds). */
export const portTaken = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(true));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
  });

export function stopService(s: StackSettings, name: Service): Promise<boolean> {
  return stopPid(ownPid(s, name), () => rmSync(pidFile(s, name), { force: true }));
}

async function stopPid(pid: number | null, cleanup: () => void): Promise<boolean> {
  if (!alive(pid)) {
    cleanup();
    return false;
  }
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* gone */
    }
  };
  signal('SIGTERM');
  for (let i = 0; i < 40 && alive(pid); i++) await sleep(250);
  signal('SIGKILL');
  cleanup();
  return true;
}
