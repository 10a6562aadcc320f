import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { fromJson, toJson, type JsonPayload } from './payload-json.js';

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The Temporal codec server protocol: POST `.../encode` and `.../decode` with `{"payloads": [...]}`,
 * answered in the same shape. The UI calls it from the browser, so its origin gets CORS headers
 * (with credentials, for UIs that pass the user's token on).
 */
export function createCodecServer(codecs: PayloadCodec[], uiOrigins: string[]): Server {
  const run = async (op: 'encode' | 'decode', payloads: Payload[]) => {
    let out = payloads;
    // Encoding applies the codecs in order; decoding undoes them in reverse.
    for (const codec of op === 'encode' ? codecs : [...codecs].reverse()) out = await codec[op](out);
    return out;
  };
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const origin = req.headers.origin;
    if (origin && uiOrigins.includes(origin)) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace, Authorization');
      res.setHeader('Vary', 'Origin');
    }
    const reply = (status: number, body: unknown) =>
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    // Only the last path segment matters, so the server can be mounted under any prefix.
    const op = req.url?.split('?')[0]?.split('/').at(-1);
    if (req.method !== 'POST' || (op !== 'encode' && op !== 'decode')) {
      return reply(404, { message: 'POST /encode or /decode with {"payloads": [...]}' });
    }
    readBody(req)
      .then(async (text) => {
        let body: { payloads?: unknown };
        try {
          body = JSON.parse(text) as { payloads?: unknown };
        } catch {
          return reply(400, { message: 'body is not JSON' });
        }
        if (!Array.isArray(body.payloads)) return reply(400, { message: 'body.payloads: expected a list' });
        const out = await run(op, (body.payloads as JsonPayload[]).map(fromJson));
        reply(200, { payloads: out.map(toJson) });
      })
      .catch((err: unknown) => reply(400, { message: err instanceof Error ? err.message : String(err) }));
  });
}
