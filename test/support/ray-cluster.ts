import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { send } from '../../trainers/http.js';
import { portFree } from './ports.js';
import { processGroup, reapOnExit } from './processes.js';

/**
 * A real two-node Ray cluster on loopback: a head, and a second node that joins it (`ray start
 * --address`) with a custom resource only it has, so a job can be placed on it. Every port is free,
 * and each node has its own process group.
 */
export interface RayCluster {
  /** The head's dashboard (Jobs API). */
  address: string;
  /** The joined node: its Ray node id, and the resource (amount 1) that places a job there. */
  second: { nodeId: string; resource: string };
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

/** The ports one node listens on, from `p`: 32 of them, the last 22 for its workers. */
const nodePorts = (p: number) => ({
  '--dashboard-agent-listen-port': p + 3,
  '--dashboard-agent-grpc-port': p + 4,
  '--metrics-export-port': p + 5,
  '--node-manager-port': p + 6,
  '--object-manager-port': p + 7,
  '--runtime-env-agent-port': p + 8,
  '--min-worker-port': p + 10,
  '--max-worker-port': p + 31,
});

/** `ray start --block` in its own process group. */
function startNode(ray: string, tempDir: string, args: string[], ports: Record<string, number>) {
  const all = ['start', '--block', '--node-ip-address', '127.0.0.1', ...args];
  for (const [flag, port] of Object.entries(ports)) all.push(flag, String(port));
  all.push('--num-cpus', '1', '--temp-dir', tempDir, '--disable-usage-stats');
  // A loaded 2-core machine starts the dashboard agent slowly: give it longer than Ray's 30 s default.
  return processGroup(
    spawn(ray, all, {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, RAY_agent_register_timeout_ms: '180000' },
    }),
  );
}

/** Polls `probe` every second until it gives a value; throws if `node` exits or 180 s pass. */
async function whileUp<T>(
  what: string,
  node: { exit(): string | null },
  probe: () => Promise<T | undefined>,
) {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    const exit = node.exit();
    if (exit) throw new Error(`${what}: ray start ${exit}`);
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(1000);
  }
  throw new Error(`${what}: not within 180 s`);
}

/** What the state API (`/api/v0/nodes`, as `ray list nodes`) says of a node. */
interface RayNode {
  node_id: string;
  state: string;
  resources_total: Record<string, number>;
}

export async function startRayCluster(ray: string): Promise<RayCluster> {
  reapOnExit();
  const p = await freePorts(64);
  // One temp dir for both, as /tmp/ray on separate machines: with a dir of its own, a job on the second
  // node logs where the Jobs API does not read (Ray 2.60 returned only the head's first line).
  // Short: Ray puts unix sockets under it, whose paths are limited to 107 bytes.
  const tempDir = mkdtempSync('/tmp/ray-');
  const head = startNode(
    ray,
    tempDir,
    ['--head', '--dashboard-host', '127.0.0.1', '--include-dashboard', 'true'],
    {
      '--dashboard-port': p,
      '--port': p + 1,
      '--ray-client-server-port': p + 2,
      ...nodePorts(p),
    },
  );
  const address = `http://127.0.0.1:${p}`;
  const resource = 'evolve-second-node';
  let second: ReturnType<typeof startNode> | undefined;
  const stop = async () => {
    await Promise.all([second?.stop(), head.stop()]);
    rmSync(tempDir, { recursive: true, force: true });
  };
  try {
    // The second node joins once the head's job agent accepts work (one started beside a starting head once exited on this loaded machine).
    await whileUp(`the Ray head on ${address} accepting jobs`, head, async () => {
      const { status } = await send(`${address}/api/jobs/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ entrypoint: 'true' }),
        timeoutMs: 10_000,
      });
      return status === 200 ? true : undefined;
    });
    const joining = startNode(
      ray,
      tempDir,
      ['--address', `127.0.0.1:${p + 1}`, '--resources', JSON.stringify({ [resource]: 1 })],
      nodePorts(p + 32),
    );
    second = joining;
    const nodeId = await whileUp(`a second Ray node joining ${address}`, joining, async () => {
      const { status, text } = await send(`${address}/api/v0/nodes`, { timeoutMs: 10_000 });
      if (status !== 200) return undefined;
      const nodes = (JSON.parse(text) as { data: { result: { result: RayNode[] } } }).data.result.result;
      return nodes.find((n) => n.state === 'ALIVE' && n.resources_total[resource] === 1)?.node_id;
    });
    return { address, second: { nodeId, resource }, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
