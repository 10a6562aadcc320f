import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * How a reply may quote a credential: as sent, base64 (a debugging page dumping the header as bytes),
 * URL-encoded, wrapped over lines (raw and inside a JSON string), after a lowercase `bearer`, and as the
 * value of `x-api-key:` and `api-key:` lines.
 */
export function quotedCredential(authorization: string): string {
  const key = authorization.replace(/^Bearer\s+/i, '');
  const wrapped = (text: string) => text.replace(/(.{11})/g, '$1\n  ');
  return [
    `you sent Authorization: ${authorization}`,
    `as bytes: ${Buffer.from(authorization).toString('base64')}`,
    `as base64url: ${Buffer.from(`user:${key}`).toString('base64url')}`,
    `url-encoded: ${encodeURIComponent(`k=${key}`)}`,
    `every byte: ${[...Buffer.from(key)].map((b) => `%${b.toString(16)}`).join('')}`,
    `wrapped: ${wrapped(key)}`,
    `escaped: ${JSON.stringify(wrapped(key)).slice(1, -1)}`,
    `lower: bearer ${key}`,
    `x-api-key: ${key}`,
    `api-key: ${key}`,
  ].join('\n');
}

/** Whether `text` holds `key` in any form of `quotedCredential`, or just the key (decoded by hand). */
export function holdsKey(text: string, key: string): boolean {
  const unwrapped = text.replace(/(\\r)?(\\n|\r?\n)[ \t]*/g, '');
  const decodedUrl = unwrapped.replace(/(%[0-9a-f]{2})+/gi, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
  const base64Runs = unwrapped.match(/[A-Za-z0-9+/_-]{16,}={0,2}/g) ?? [];
  const decodedBase64 = base64Runs.map((run) => Buffer.from(run, 'base64').toString('latin1')).join(' ');
  return [unwrapped, decodedUrl, decodedBase64].some((t) => t.includes(key));
}

/**
 * A server that quotes the request's credentials back, as many 401 and 500 pages do: the first path
 * segment picks the status (`/s401/...`, `/s500/...`), the body repeats the Authorization header in
 * every form of `quotedCredential`, in the fields the clients read (OpenAI `error.message`, FastAPI
 * `detail`, Kubernetes `message`, Ray text).
 */
export async function startEchoServer(): Promise<{
  url: (status: number) => string;
  close(): Promise<void>;
}> {
  const server = createServer((req, res) => {
    req.resume();
    const status = Number(/^\/s(\d{3})\//.exec(req.url ?? '')?.[1] ?? 500);
    const quoted = req.headers.authorization
      ? quotedCredential(req.headers.authorization)
      : 'you sent Authorization: (none)';
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
