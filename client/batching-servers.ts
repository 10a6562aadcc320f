import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { modelServerCommand, type StackSettings } from '../deploy/stack.js';

/** A port nothing listens on now, from the OS, for a server that must be told its port up front. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface BatchingServers {
  /** Each server's OpenAI base URL, `http://127.0.0.1:<port>/v1`. */
  urls: string[];
  /** SIGTERM to each server's group; resolves once all have exited (SIGKILL after 10 s). */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 180_000;

/** How a server on `port` is launched. */
type ServerCommand = (
  settings: StackSettings,
  port: number,
) => { cmd: string; args: string[]; env: NodeJS.ProcessEnv };

/**
 * `count` model servers with continuous batching (by default `transformers serve --continuous-batching`),
 * each in its own process group, logging to `logDir/batching-<i>.log`; all are stopped by `stop()` or
 * when this process exits. Resolves once every server lists its models.
 */
export async function startBatchingServers(
  settings: StackSettings,
  count: number,
  logDir: string,
  /** Ports to listen on, e.g. those a resumed experiment's runs were started with; else from the OS. */
  ports: number[] = [],
  command: ServerCommand = (s, port) => modelServerCommand(s, port, true),
  readyTimeoutMs = READY_TIMEOUT_MS,
): Promise<BatchingServers> {
  mkdirSync(logDir, { recursive: true });
  const children: ChildProcess[] = [];
  const signal = (name: NodeJS.Signals) => {
    for (const child of children) {
      try {
        if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, name);
      } catch {
        // already gone
      }
    }
  };
  const onExit = () => signal('SIGKILL');
  process.once('exit', onExit);
  const stop = async () => {
    process.off('exit', onExit);
    const exited = children.map((c) =>
      c.exitCode !== null || c.signalCode !== null
        ? Promise.resolve()
        : new Promise((r) => c.once('exit', r)),
    );
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), 10_000);
    await Promise.all(exited);
    clearTimeout(timer);
  };
  const urls: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const port = ports[i] ?? (await freePort());
      const { cmd, args, env } = command(settings, port);
      const log = openSync(join(logDir, `batching-${i}.log`), 'a');
      const child = spawn(cmd, args, { env, detached: true, stdio: ['ignore', log, log] });
      children.push(child);
      urls.push(`http://127.0.0.1:${port}/v1`);
    }
    await Promise.all(
      urls.map((url, i) => ready(url, children[i]!, join(logDir, `batching-${i}.log`), readyTimeoutMs)),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { urls, stop };
}

async function ready(url: string, child: ChildProcess, log: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`model server ${url} exited (${child.exitCode}); see ${log}`);
    try {
      if ((await fetch(`${url}/models`, { signal: AbortSignal.timeout(5000) })).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`model server ${url} did not answer within ${timeoutMs / 1000} s; see ${log}`);
}
