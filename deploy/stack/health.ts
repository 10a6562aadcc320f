import { existsSync, readFileSync } from 'node:fs';
import { Connection } from '@temporalio/client';
import { groupListensOn, ownPid } from './processes.js';
import {
  type Service,
  type StackSettings,
  codecToken,
  logPath,
  modelBaseUrl,
  portsOf,
  servicesOf,
  temporalAddress,
  uiUrl,
} from './settings.js';

export type Health = { ok: true; detail: string } | { ok: false; detail: string };

export async function checkTemporal(s: StackSettings): Promise<Health> {
  try {
    const connection = await Connection.connect({ address: temporalAddress(s), connectTimeout: 2000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return { ok: true, detail: `${temporalAddress(s)}, UI ${uiUrl(s)}` };
    } finally {
      await connection.close();
    }
  } catch (err) {
    return { ok: false, detail: `${temporalAddress(s)}: ${(err as Error).message}` };
  }
}

export async function checkModel(s: StackSettings): Promise<Health> {
  try {
    const res = await fetch(`${modelBaseUrl(s)}/models`, { signal: AbortSignal.timeout(5000) });
    return res.ok
      ? { ok: true, detail: modelBaseUrl(s) }
      : { ok: false, detail: `${modelBaseUrl(s)}: HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, detail: `${modelBaseUrl(s)}: ${(err as Error).message}` };
  }
}

export async function checkCodec(s: StackSettings): Promise<Health> {
  const url = `${s.codecEndpoint}/decode`;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${codecToken(s)}` },
      body: '{"payloads": []}',
      signal: AbortSignal.timeout(5000),
    });
    return res.ok
      ? { ok: true, detail: s.codecEndpoint! }
      : { ok: false, detail: `${url}: HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, detail: `${url}: ${(err as Error).message}` };
  }
}

export async function checkWorker(s: StackSettings): Promise<Health> {
  const pid = ownPid(s, 'worker');
  if (pid === null) return { ok: false, detail: 'not running' };
  const log = existsSync(logPath(s, 'worker')) ? readFileSync(logPath(s, 'worker'), 'utf8') : '';
  return log.includes('evolve worker: task queue')
    ? { ok: true, detail: `pid ${pid}, task queue "${s.taskQueue}"` }
    : { ok: false, detail: `pid ${pid}, still starting` };
}

export const checks: Record<Service, (s: StackSettings) => Promise<Health>> = {
  codec: checkCodec,
  temporal: checkTemporal,
  model: checkModel,
  worker: checkWorker,
};

/** A service's health, where an answer on its port counts only from the service's own process. */
async function ownHealth(s: StackSettings, name: Service): Promise<Health> {
  const health = await checks[name](s);
  const [main] = portsOf(s, name);
  const pid = ownPid(s, name);
  if (!health.ok || !main || (pid !== null && groupListensOn(pid, main.port) !== false)) return health;
  return {
    ok: false,
    detail: `port ${main.port} is answered by a process that is not this stack's (move the stack with ${main.variable})`,
  };
}

export async function stackStatus(s: StackSettings): Promise<Partial<Record<Service, Health>>> {
  const entries = await Promise.all(
    servicesOf(s).map(async (name) => [name, await ownHealth(s, name)] as const),
  );
  return Object.fromEntries(entries);
}
