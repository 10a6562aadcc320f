import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { checks } from './health.js';
import { alive, groupListensOn, ownPid, portTaken, readPid, stopService } from './processes.js';
import {
  ALL_SERVICES,
  type Service,
  type StackSettings,
  commandFor,
  logPath,
  pidFile,
  portsOf,
  servicesOf,
  writeStackProfile,
} from './settings.js';

/**
 * Refuses a port of the service held by anything but the service's own process (`pid`, from
 * ownPid): a stranger is never adopted, even one that answers like the service.
 */
async function refuseStrangers(s: StackSettings, name: Service, pid: number | null): Promise<void> {
  for (const [i, { port, variable }] of portsOf(s, name).entries()) {
    if (pid !== null && groupListensOn(pid, port) !== false) continue;
    if (!(await portTaken(port))) continue;
    const recorded = readPid(s, name);
    const why =
      recorded === null
        ? `no ${pidFile(s, name)}`
        : pid === null
          ? `${pidFile(s, name)} names pid ${recorded}, which is not a running ${name} service`
          : `its pid ${pid} does not listen there`;
    const answers = i === 0 && (await checks[name](s)).ok ? `; it answers like a ${name} server` : '';
    throw new Error(
      `${name}: port ${port} is in use by a process that is not this stack's (${why}${answers}). ` +
        `evolve does not adopt it: stop that process, or move the stack with ${variable}=<free port>.`,
    );
  }
}

/** Starts one service detached (own process group, log file), unless its own process still runs. */
export function startService(s: StackSettings, name: Service): number {
  const existing = ownPid(s, name);
  if (existing !== null) return existing;
  mkdirSync(join(s.stateDir, 'run'), { recursive: true });
  mkdirSync(join(s.stateDir, 'logs'), { recursive: true });
  const { cmd, runtime = [], args, env } = commandFor(s, name);
  if (name === 'worker') writeStackProfile(s);
  if (name !== 'worker' && !existsSync(cmd)) {
    throw new Error(`${cmd} is missing: run \`npm run bootstrap\` first`);
  }
  const log = openSync(logPath(s, name), 'a', 0o600);
  const child = spawn(cmd, [...runtime, ...args], {
    detached: true,
    stdio: ['ignore', log, log],
    // Each service gets its own environment: only the codec server and the worker see the codec key.
    env,
  });
  child.unref();
  writeFileSync(pidFile(s, name), String(child.pid));
  return child.pid!;
}

/** Brings each service up in order and waits until it is healthy; names the one that failed, with its log. */
export async function stackUp(
  s: StackSettings,
  say: (line: string) => void,
  timeoutMs = 180_000,
  services: Service[] = servicesOf(s),
): Promise<void> {
  for (const name of services) {
    const own = ownPid(s, name);
    await refuseStrangers(s, name, own);
    const before = own === null ? null : await checks[name](s);
    if (before?.ok) {
      say(`${name}: already up (pid ${own}, ${before.detail})`);
      continue;
    }
    const pid = startService(s, name);
    say(`${name}: ${own === null ? 'starting' : 'still starting'} (pid ${pid}, log ${logPath(s, name)})`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const health = await checks[name](s);
      if (health.ok) {
        say(`${name}: up (${health.detail})`);
        break;
      }
      if (!alive(pid) || Date.now() > deadline) {
        const tail = existsSync(logPath(s, name))
          ? readFileSync(logPath(s, name), 'utf8').trimEnd().split('\n').slice(-15).join('\n')
          : '';
        throw new Error(`${name} did not become healthy (${health.detail}); last log lines:\n${tail}`);
      }
      await sleep(500);
    }
  }
}

export async function stackDown(s: StackSettings, say: (line: string) => void): Promise<void> {
  const configured = servicesOf(s);
  // A codec server started under another environment is stopped too.
  for (const name of [...ALL_SERVICES].reverse()) {
    const stopped = await stopService(s, name);
    if (stopped || configured.includes(name)) say(`${name}: ${stopped ? 'stopped' : 'was not running'}`);
  }
}
