import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { send } from '../../trainers/http.js';
import { portFree } from './ports.js';
import { reapOnExit } from './processes.js';

/** A real single-node Ray head on loopback, every port free, in its own process group and temp dir. */
export interface RayHead {
  address: string;
  stop(): Promise<void>;
}

/** A run of `count` consecutive free ports (Ray's worker ports are a range). */
async function freePorts(count: number): Promise<number> {
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    const all = await Promise.all(Array.from({ length: count }, (_, i) => portFree(base + i)));
    if (all.every(Boolean)) return base;
  }
}

export async function startRayHead(ray: string): Promise<RayHead> {
  reapOnExit();
  const p = await freePorts(32);
  // Short: Ray puts unix sockets under it, whose paths are limited to 107 bytes.
  const tempDir = mkdtempSync('/tmp/ray-');
  const ports = {
    '--dashboard-port': p,
    '--port': p + 1,
    '--ray-client-server-port': p + 2,
    '--dashboard-agent-listen-port': p + 3,
    '--dashboard-agent-grpc-port': p + 4,
    '--metrics-export-port': p + 5,
    '--node-manager-port': p + 6,
    '--object-manager-port': p + 7,
    '--runtime-env-agent-port': p + 8,
    '--min-worker-port': p + 10,
    '--max-worker-port': p + 31,
  };
  const args = [
    'start',
    '--head',
    '--block',
    '--dashboard-host',
    '127.0.0.1',
    '--node-ip-address',
    '127.0.0.1',
  ];
  for (const [flag, port] of Object.entries(ports)) args.push(flag, String(port));
  args.push('--num-cpus', '1', '--include-dashboard', 'true', '--temp-dir', tempDir, '--disable-usage-stats');
  // A loaded 2-core machine starts the dashboard agent slowly: give it longer than Ray's 30 s default.
  const head = spawn(ray, args, {
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, RAY_agent_register_timeout_ms: '180000' },
  });
  const address = `http://127.0.0.1:${p}`;
  const stop = async () => {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      try {
        process.kill(-head.pid!, signal);
      } catch {
        break;
      }
      await sleep(3000);
    }
    rmSync(tempDir, { recursive: true, force: true });
  };
  // Ready when the job agent accepts work, not merely when the dashboard answers.
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    const probe = await send(`${address}/api/jobs/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ entrypoint: 'true' }),
      timeoutMs: 10_000,
    }).catch(() => null);
    if (probe?.status === 200) return { address, stop };
    if (head.exitCode !== null) break;
    await sleep(1000);
  }
  await stop();
  throw new Error(`the Ray head on ${address} did not accept jobs within 180 s`);
}
