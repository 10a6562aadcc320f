import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OpenAI-compatible chat server for fault injection: it answers arithmetic questions (right for even
 * seeds, off by one for odd ones), scores judge prompts (pointwise, and pairwise preferring the longer
 * answer), and fails requests on a schedule.
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
}

export interface FakeServer {
  baseUrl: string;
  requests: { total: number; served: number; failed: number; byModel: Map<string, number> };
  close(): Promise<void>;
}

interface ChatBody {
  model: string;
  messages: { role: string; content: string }[];
  seed?: number;
  max_tokens?: number;
  logprobs?: boolean;
}

const between = (text: string, start: string, end: string) =>
  text.slice(text.indexOf(start) + start.length, text.indexOf(end, text.indexOf(start)));

/** Pairwise judge prompts: which answer is longer, as an Arena-Hard verdict or an AlpacaEval label. */
function pairwise(last: string): { text: string; top?: { token: string; logprob: number }[] } | null {
  if (last.includes('[[A>>B]]')) {
    const a = between(
      last,
      "<|The Start of Assistant A's Answer|>\n",
      "\n<|The End of Assistant A's Answer|>",
    );
    const b = between(
      last,
      "<|The Start of Assistant B's Answer|>\n",
      "\n<|The End of Assistant B's Answer|>",
    );
    const label = a.length === b.length ? 'A=B' : a.length > b.length ? 'A>B' : 'B>A';
    return { text: `Both answers address the question. My final verdict is [[${label}]]` };
  }
  if (last.includes('Answer with its identifier only')) {
    const m = between(last, '[Output (m)]\n', '\n\n[Output (M)]');
    const M = between(last, '[Output (M)]\n', '\n\nWhich output');
    const [win, lose] = M.length >= m.length ? ['M', 'm'] : ['m', 'M'];
    return {
      text: win,
      top: [
        { token: win, logprob: Math.log(0.8) },
        { token: lose, logprob: Math.log(0.15) },
        { token: 'Output', logprob: Math.log(0.05) },
      ],
    };
  }
  return null;
}

function answer(body: ChatBody): string {
  const last = body.messages.at(-1)?.content ?? '';
  if (last.includes('Score (1-')) return String(1 + ((body.seed ?? 0) % 10));
  const question = body.messages.find((m) => m.role === 'user')?.content ?? '';
  const [a, b] = (question.match(/\d+/g) ?? ['0', '0']).map(Number);
  const right = question.includes('more') ? a! + b! : a! - b!;
  const isRefinement = body.messages.length > 1;
  // Refinements always fix the answer: the data then holds refinement pairs, as EVOLVE expects.
  const value = isRefinement || (body.seed ?? 0) % 2 === 0 ? right : right + 1;
  return `Let me think. The answer is ${value}.`;
}

export async function startFakeOpenAI(plan: FaultPlan = {}): Promise<FakeServer> {
  const requests = { total: 0, served: 0, failed: 0, byModel: new Map<string, number>() };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
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
        const judged = pairwise(body.messages.at(-1)?.content ?? '');
        const text = judged?.text ?? answer(body);
        const logprobs =
          body.logprobs && judged?.top
            ? {
                content: [
                  { token: text, logprob: judged.top[0]!.logprob, bytes: [], top_logprobs: judged.top },
                ],
              }
            : null;
        json(200, {
          id: `chatcmpl-${n}`,
          object: 'chat.completion',
          created: 0,
          model: body.model,
          choices: [
            { index: 0, message: { role: 'assistant', content: text }, logprobs, finish_reason: 'stop' },
          ],
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
