import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { CodecBodySchema, fromJson, toJson } from './payload-json.js';

/** The largest request body read (docs/security.md): a page of the UI's payloads is far below it. */
export const MAX_CODEC_BODY_BYTES = 16 << 20;

/** A request the server refuses with `status`, whatever part of it was malformed. */
class BadRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The body, read up to MAX_CODEC_BODY_BYTES: a longer one is refused as it arrives, never held whole. */
async function readBody(req: IncomingMessage): Promise<string> {
  const tooLarge = () =>
    new BadRequest(413, `body larger than ${MAX_CODEC_BODY_BYTES} bytes (the codec server's cap)`);
  if (Number(req.headers['content-length'] ?? 0) > MAX_CODEC_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_CODEC_BODY_BYTES) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface CodecServerOptions {
  /** Browser origins allowed to call it (the Temporal UI's); any other Origin is refused. */
  uiOrigins: string[];
  /**
   * The bearer token /decode and /encode require (header `Authorization: Bearer <token>`, or the
   * cookie `/login?token=` sets for a browser). null turns authentication off: local development only.
   */
  token: string | null;
  /** /encode seals payloads anyone could then submit as if the worker wrote them: off unless asked for. */
  encode?: boolean;
  /** Host headers it answers to besides loopback names (DNS rebinding sends the attacker's name). */
  hosts?: string[];
}

export const CODEC_COOKIE = 'evolve_codec_token';

const digest = (s: string) => createHash('sha256').update(s).digest();
const sameSecret = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

function presentedToken(req: IncomingMessage): string | undefined {
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (bearer) return bearer;
  const cookie = (req.headers.cookie ?? '')
    .split(';')
    .map((c) => c.trim().split('='))
    .find(([name]) => name === CODEC_COOKIE);
  if (cookie?.[1] === undefined) return undefined;
  try {
    return decodeURIComponent(cookie[1]);
  } catch {
    throw new BadRequest(400, `malformed ${CODEC_COOKIE} cookie`);
  }
}

const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/i;

/**
 * The Temporal codec server protocol: POST `.../encode` and `.../decode` with `{"payloads": [...]}`,
 * answered in the same shape. Whoever can call /decode reads every payload, so it requires a token,
 * answers only to its own host names (no DNS rebinding) and to the UI's origin; the UI calls it from
 * the browser, so that origin gets CORS headers with credentials (the login cookie).
 */
export function createCodecServer(codecs: PayloadCodec[], options: CodecServerOptions): Server {
  const { uiOrigins, token } = options;
  const hosts = new Set((options.hosts ?? []).map((h) => h.toLowerCase()));
  const run = async (op: 'encode' | 'decode', payloads: Payload[]) => {
    let out = payloads;
    // Encoding applies the codecs in order; decoding undoes them in reverse.
    for (const codec of op === 'encode' ? codecs : [...codecs].reverse()) out = await codec[op](out);
    return out;
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
      // What is left of a refused body is not read: the connection closes instead.
      if (!req.complete) res.once('finish', () => req.destroy());
    };
    const refuse = (err: unknown) =>
      err instanceof BadRequest
        ? reply(err.status, { message: err.message })
        : reply(400, { message: err instanceof Error ? err.message : String(err) });
    try {
      handle(req, res, reply).catch(refuse);
    } catch (err) {
      refuse(err);
    }
  });
  // A request the HTTP parser refuses (bad request line or header) gets its 400 and closes, nothing more.
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;

  /** Answers one request; throws BadRequest (or anything) for what it refuses. */
  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    reply: (status: number, body: unknown, headers?: Record<string, string>) => void,
  ): Promise<void> {
    const host = (req.headers.host ?? '').toLowerCase();
    if (!LOOPBACK_HOST.test(host) && !hosts.has(host))
      return reply(421, { message: `Host ${host || '(none)'} is not one this codec server answers to` });
    const origin = req.headers.origin;
    if (origin !== undefined && !uiOrigins.includes(origin))
      return reply(403, { message: `Origin ${origin} is not an allowed UI origin` });
    if (origin) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      res.setHeader('Vary', 'Origin');
    }
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://codec');
    } catch {
      throw new BadRequest(400, 'malformed request target');
    }
    // A browser cannot send a header through the UI: one visit here leaves the token in a cookie that
    // only same-site requests carry (the UI and this server both on 127.0.0.1).
    if (req.method === 'GET' && url.pathname.endsWith('/login')) {
      const given = url.searchParams.get('token') ?? '';
      if (token === null || !sameSecret(given, token))
        return reply(401, { message: 'wrong or missing token' });
      return reply(
        200,
        { message: 'this browser may now decode payloads through the codec server' },
        { 'Set-Cookie': `${CODEC_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/` },
      );
    }
    // Only the last path segment matters, so the server can be mounted under any prefix.
    const op = url.pathname.split('/').at(-1);
    if (req.method !== 'POST' || (op !== 'encode' && op !== 'decode')) {
      return reply(404, { message: 'POST /encode or /decode with {"payloads": [...]}' });
    }
    if (token !== null) {
      const given = presentedToken(req);
      if (given === undefined || !sameSecret(given, token))
        return reply(
          401,
          { message: 'a bearer token is required (EVOLVE_CODEC_TOKEN)' },
          {
            'WWW-Authenticate': 'Bearer',
          },
        );
    }
    if (op === 'encode' && !options.encode)
      return reply(403, { message: '/encode is off: start the codec server with --allow-encode' });
    let text: unknown;
    try {
      text = JSON.parse(await readBody(req));
    } catch (err) {
      throw err instanceof BadRequest ? err : new BadRequest(400, 'body is not JSON');
    }
    const body = CodecBodySchema.safeParse(text);
    if (!body.success) {
      const issue = body.error.issues[0]!;
      throw new BadRequest(400, `body.${issue.path.join('.')}: ${issue.message}`);
    }
    const out = await run(op, body.data.payloads.map(fromJson));
    reply(200, { payloads: out.map(toJson) });
  }
}
