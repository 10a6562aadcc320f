import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A server that quotes the request's credentials back, as many 401 and 500 pages do: the first path
 * segment picks the status (`/s401/...`, `/s500/...`), the body repeats the Authorization header in
 * the fields the clients read (OpenAI `error.message`, FastAPI `detail`, Kubernetes `message`, Ray text).
 */
export async function startEchoServer(): Promise<{
  url: (status: number) => string;
  close(): Promise<void>;
}> {
  const server = createServer((req, res) => {
    req.resume();
    const status = Number(/^\/s(\d{3})\//.exec(req.url ?? '')?.[1] ?? 500);
    const quoted = `you sent Authorization: ${req.headers.authorization ?? '(none)'}`;
    res
      .writeHead(status, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { message: quoted }, detail: quoted, message: quoted, reason: 'Echo' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (status) => `http://127.0.0.1:${port}/s${status}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
