import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fnv1a64 } from '../../core/templates.js';

/**
 * An OpenAI-compatible chat server that records every request body and answers from the request's
 * messages alone, so the official harnesses and evolve get the same reply to the same question.
 * Logprob requests get one token with top_logprobs (sometimes none of the judge's tokens, sometimes
 * only one); other requests get an Arena-Hard-style reply: a verdict label, none (which asks the
 * judge again), two different ones, or a final label after the follow-up turn.
 */
export interface RecordingServer {
  baseUrl: string;
  requests: Record<string, unknown>[];
  close(): Promise<void>;
}

type Top = { token: string; logprob: number; bytes: number[] };
const top = (token: string, logprob: number): Top => ({ token, logprob, bytes: [...Buffer.from(token)] });

/** The deterministic reply to a request: its text and, when asked for, the first token's logprobs. */
export function recordedReply(body: { messages: { role: string; content: string }[]; logprobs?: boolean }) {
  // Role and content only, in a fixed order: clients differ in the key order of a message.
  const conversation = body.messages.map((m) => [m.role, m.content]);
  const bucket = parseInt(fnv1a64(JSON.stringify(conversation)).slice(0, 8), 16);
  if (body.logprobs) {
    const a = -((bucket % 997) / 97);
    const b = -(((bucket >>> 10) % 991) / 89);
    const alternatives =
      bucket % 7 === 0
        ? [top('Both', -0.2), top('The', -1.9)]
        : bucket % 7 === 1
          ? [top('M', -0.01), top('Both', -5.2)]
          : [top('m', a), top('M', b), top('Based', -9.5)].sort((x, y) => y.logprob - x.logprob);
    const first = alternatives[0]!;
    return { text: first.token, logprobs: { content: [{ ...first, top_logprobs: alternatives }] } };
  }
  const last = body.messages.at(-1)!.content;
  if (last.startsWith('continue your judgment'))
    return { text: 'Having weighed both: [[B>A]]', logprobs: null };
  const replies = [
    'Both answers need more thought before a verdict.',
    'A is clearer [[A>B]], yet B is more complete [[B>A]].',
    'My final verdict is Assistant A is significantly better: [[A>>B]]',
    'My final verdict is tie: [[A=B]]',
    'My final verdict is Assistant B is significantly better: [[B>>A]]',
  ];
  return { text: replies[bucket % replies.length]!, logprobs: null };
}

export async function startRecordingServer(): Promise<RecordingServer> {
  const requests: Record<string, unknown>[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Parameters<typeof recordedReply>[0] &
        Record<string, unknown>;
      requests.push(body);
      const reply = recordedReply(body);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: `chatcmpl-${requests.length}`,
          object: 'chat.completion',
          created: 0,
          model: body.model,
          choices: [
            {
              index: 0,
              finish_reason: body.logprobs ? 'length' : 'stop',
              message: { role: 'assistant', content: reply.text },
              logprobs: reply.logprobs,
            },
          ],
          usage: { prompt_tokens: 100, completion_tokens: 1, total_tokens: 101 },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
