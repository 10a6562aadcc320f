import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { requireInstalled, temporalCli } from './paths.js';
import { until } from './until.js';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * A Temporal dev server with a persistent database that can be killed (-9) and started again with the
 * same state, as an operator's restart or a crash does. Workers and clients connect to `address`.
 */
export async function restartableDevServer() {
  const db = join(mkdtempSync(join(tmpdir(), 'evolve-temporal-db-')), 'temporal.db');
  const [port, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const address = `127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  const reachable = async () => {
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      await connection.close();
      return true;
    } catch {
      return false;
    }
  };
  const start = async () => {
    const started = spawn(
      requireInstalled(temporalCli),
      ['server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port)].concat(
        ['--http-port', String(httpPort), '--metrics-port', String(metricsPort)],
        ['--db-filename', db, '--log-level', 'error'],
      ),
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = started;
    let stderr = '';
    started.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-2000)));
    // A server that exits is named with its error at once; a loaded machine (CI beside other work)
    // may take long to open the port, so the wait is generous.
    await until(
      'the Temporal dev server to listen',
      async () => {
        if (started.exitCode !== null)
          throw new Error(`the Temporal dev server exited (${started.exitCode}): ${stderr.trim()}`);
        return reachable();
      },
      180_000,
    );
  };
  const kill = async () => {
    const dying = child;
    child = null;
    if (!dying || dying.exitCode !== null) return;
    const exited = new Promise((resolve) => dying.once('exit', resolve));
    dying.kill('SIGKILL');
    await exited;
  };
  await start();
  return { address, start, kill };
}
