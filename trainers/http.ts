import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ConfigError } from '../core/config.js';
import { OutageError } from '../core/outage-error.js';

export interface HttpReply {
  status: number;
  text: string;
}

/**
 * A plain node:http(s) request. Not fetch: fetch sends Sec-Fetch-* headers, and Ray's dashboard
 * refuses any POST that carries them as browser traffic (405).
 */
export function send(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs?: number } = {},
): Promise<HttpReply> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: init.method ?? 'GET',
        // A length, not chunked encoding: servers may refuse a chunked DELETE body.
        headers: {
          ...init.headers,
          ...(init.body ? { 'content-length': Buffer.byteLength(init.body) } : {}),
        },
        timeout: init.timeoutMs ?? 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${req.method} ${url} timed out`)));
    req.on('error', reject);
    req.end(init.body);
  });
}

/**
 * A streamed GET of newline-delimited JSON (a Kubernetes watch): `onEvent` sees each object as it
 * arrives and returns true to stop. Resolves when it stops, when the server ends the stream, or when
 * `signal` aborts; rejects on a non-2xx answer or a broken connection.
 */
export function streamJsonLines(
  url: string,
  init: { what: string; headers?: Record<string, string>; signal: AbortSignal },
  onEvent: (event: unknown) => boolean,
): Promise<void> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    if (init.signal.aborted) return resolve();
    const req = request(target, { headers: { accept: 'application/json', ...init.headers } }, (res) => {
      if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) {
        res.resume();
        return reject(new Error(`${init.what}: GET ${url} answered ${res.statusCode}`));
      }
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let newline;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line && onEvent(JSON.parse(line))) {
            req.destroy();
            return resolve();
          }
        }
      });
      res.on('end', () => resolve());
      res.on('error', (err) => (init.signal.aborted || req.destroyed ? resolve() : reject(err)));
    });
    init.signal.addEventListener('abort', () => {
      req.destroy();
      resolve();
    });
    req.on('error', (err) => (init.signal.aborted || req.destroyed ? resolve() : reject(err)));
    req.end();
  });
}

/**
 * JSON over HTTP for the Ray and Kubernetes APIs. A 4xx that retrying cannot fix (bad request, auth,
 * invalid object) is a ConfigError: the activity fails at once with the server's own message.
 */
export async function requestJson(
  url: string,
  init: { what: string; method?: string; headers?: Record<string, string>; body?: string; allow?: number[] },
): Promise<{ status: number; body: unknown }> {
  const headers = { 'content-type': 'application/json', accept: 'application/json', ...init.headers };
  const { status, text } = await send(url, { ...init, headers }).catch((err: Error) => {
    throw new OutageError(`${init.what}: ${init.method ?? 'GET'} ${url}: ${err.message}`); // refused, reset, timed out
  });
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: keep the text for the message */
  }
  if ((status >= 200 && status < 300) || init.allow?.includes(status)) return { status, body };
  const message = `${init.what}: ${init.method ?? 'GET'} ${url} answered ${status}: ${describe(body)}`;
  if ([400, 401, 403, 422].includes(status)) throw new ConfigError(message);
  if (status >= 500 || status === 408) throw new OutageError(message);
  throw new Error(message);
}

function describe(body: unknown): string {
  if (body && typeof body === 'object') {
    const b = body as { message?: unknown; reason?: unknown; detail?: unknown; error?: unknown };
    const text = [b.reason, b.message ?? b.detail ?? b.error].filter((x) => typeof x === 'string').join(': ');
    if (text) return text;
  }
  return String(body).slice(0, 500);
}
