import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OpenAI-compatible chat server for fault injection: it answers arithmetic questions (right for even
 * seeds, off by one for odd ones), scores judge prompts, and fails requests on a schedule.
 */
export interface FaultPlan {
  /** Every n-th request answers HTTP 500. */
  serverErrorEvery?: number;
  /** Every n-th request answers HTTP 429 with Retry-After: 0. */
  rateLimitEvery?: number;
  /** Every n-th request is held this long before answering (for client timeouts). */
  stallEvery?: number;
  stallMs?: number;
  /** Fixed latency of every reply. */
  latencyMs?: number;
  /** Answer 401 unless the request carries `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
}

export interface FakeServer {
  baseUrl: string;
  requests: {
    total: number;
    served: number;
    failed: number;
    byModel: Map<string, number>;
    /** Authorization headers seen, to prove API keys reached the server. */
    authorizations: Set<string>;
  };
  close(): Promise<void>;
}

interface ChatBody {
  model: string;
  messages: { role: string; content: string }[];
  seed?: number;
  max_tokens?: number;
}

function answer(body: ChatBody): string {
  const last = body.messages.at(-1)?.content ?? '';
  // A judge's score depends on its prompt, rubric included (here through the prompt's length).
  if (last.includes('Score (1-')) return String(1 + (((body.seed ?? 0) + last.length) % 10));
  const question = body.messages.find((m) => m.role === 'user')?.content ?? '';
  const [a, b] = (question.match(/\d+/g) ?? ['0', '0']).map(Number);
  const right = question.includes('more') ? a! + b! : a! - b!;
  const isRefinement = body.messages.length > 1;
  // Refinements always fix the answer: the data then holds refinement pairs, as EVOLVE expects.
  const value = isRefinement || (body.seed ?? 0) % 2 === 0 ? right : right + 1;
  return `Let me think. The answer is ${value}.`;
}

export async function startFakeOpenAI(plan: FaultPlan = {}): Promise<FakeServer> {
  const requests = {
    total: 0,
    served: 0,
    failed: 0,
    byModel: new Map<string, number>(),
    authorizations: new Set<string>(),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.authorization) requests.authorizations.add(req.headers.authorization);
      if (plan.apiKey && req.headers.authorization !== `Bearer ${plan.apiKey}`) {
        res
          .writeHead(401, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { message: 'invalid api key', type: 'invalid_request_error' } }));
        return;
      }
      if (req.url?.endsWith('/models')) {
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ object: 'list', data: [] }));
        return;
      }
      const n = ++requests.total;
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
      if (plan.serverErrorEvery && n % plan.serverErrorEvery === 0) {
        requests.failed++;
        return json(500, { error: { message: 'injected 500', type: 'server_error' } });
      }
      if (plan.rateLimitEvery && n % plan.rateLimitEvery === 0) {
        requests.failed++;
        return json(429, { error: { message: 'injected 429', type: 'rate_limit' } }, { 'retry-after': '0' });
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatBody;
      const reply = () => {
        requests.served++;
        requests.byModel.set(body.model, (requests.byModel.get(body.model) ?? 0) + 1);
        const text = answer(body);
        json(200, {
          id: `chatcmpl-${n}`,
          object: 'chat.completion',
          created: 0,
          model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 10, completion_tokens: text.length, total_tokens: 10 + text.length },
        });
      };
      const stall = plan.stallEvery && n % plan.stallEvery === 0 ? (plan.stallMs ?? 0) : 0;
      setTimeout(reply, stall + (plan.latencyMs ?? 0));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
