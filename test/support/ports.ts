import { createServer, type Server } from 'node:net';

/** Binds `port` on loopback (0: one the OS picks); null when something else holds it. */
function listen(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

export { freePort } from '../../client/batching-servers.js';

/** Whether `port` can be bound on loopback now. */
export async function portFree(port: number): Promise<boolean> {
  const server = await listen(port);
  if (server) await close(server);
  return server !== null;
}

/**
 * The embedded stack's default ports and the fixed ports the e2e test once used: a test that holds
 * them (`occupyPorts`) shows it depends on none of them being free.
 */
export const WELL_KNOWN_PORTS = [7233, 8233, 8000, 8081, 7461, 8461, 8061];

/**
 * Plain TCP listeners, standing in for a stranger, on each of `ports` that is free (one already taken
 * is held by a stranger anyway); `release` closes them.
 */
export async function occupyPorts(ports: number[]): Promise<{ held: number[]; release(): Promise<void> }> {
  const servers = (await Promise.all(ports.map(listen))).filter((s): s is Server => s !== null);
  return {
    held: servers.map((s) => (s.address() as { port: number }).port),
    release: async () => void (await Promise.all(servers.map(close))),
  };
}
