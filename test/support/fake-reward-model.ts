import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A reward-model server for tests (no GPU vLLM here): it speaks vLLM's `/classify` and `/pooling`
 * (chat `messages` or a list of `input` texts) and OpenRLHF's `/get_reward`, with the real request and
 * reply shapes. The reward is a deterministic function of the response text, so tests can predict it.
 */
export interface RewardFaults {
  /** Every n-th request answers 200 with a reply of the wrong shape. */
  malformedEvery?: number;
  /** Every n-th request answers HTTP 500. */
  serverErrorEvery?: number;
  /** Every n-th request is held this long before answering. */
  stallEvery?: number;
  stallMs?: number;
}

export interface FakeRewardModel {
  baseUrl: string;
  /** Every request body, in arrival order, by path. */
  requests: { path: string; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

/** The reward of a response: longer is better up to 60 characters, then worse; digits add a point. */
export function fakeReward(response: string): number {
  return -Math.abs(response.length - 60) / 10 + (/\d/.test(response) ? 1 : 0);
}

type Msg = { role: string; content: string };

export async function startFakeRewardModel(faults: RewardFaults = {}): Promise<FakeRewardModel> {
  const requests: FakeRewardModel['requests'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      requests.push({ path, body });
      const n = requests.length;
      const json = (status: number, reply: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
      // The response is the assistant turn of a conversation, or what follows "Answer:" in rendered text.
      const texts: string[] = Array.isArray(body.messages)
        ? [(body.messages as Msg[]).filter((m) => m.role === 'assistant').at(-1)?.content ?? '']
        : ((body.input ?? body.query) as string[]).map((t) => t.split('Answer:').at(-1)!.trim());
      const rewards = texts.map(fakeReward);
      const reply = () => {
        if (faults.serverErrorEvery && n % faults.serverErrorEvery === 0)
          return json(500, { error: 'injected' });
        if (faults.malformedEvery && n % faults.malformedEvery === 0) return json(200, { data: 'oops' });
        const usage = { prompt_tokens: 10, total_tokens: 10, completion_tokens: 0 };
        const meta = { id: `pool-${n}`, object: 'list', created: 0, model: body.model ?? 'rm' };
        if (path === '/classify') {
          // With use_activation false the "probs" are the raw logits: here, the reward itself.
          const raw = body.use_activation === false;
          const data = rewards.map((r, index) => ({
            index,
            label: 'LABEL_0',
            probs: [raw ? r : 1 / (1 + Math.exp(-r))],
            num_classes: 1,
          }));
          return json(200, { ...meta, data, usage });
        }
        if (path === '/pooling') {
          // A reward model with ALL pooling: one value per token, the sequence reward last.
          const data = rewards.map((r, index) => ({ index, object: 'pooling', data: [[0.1], [0.2], [r]] }));
          return json(200, { ...meta, data, usage });
        }
        if (path === '/get_reward') return json(200, { rewards, scores: rewards });
        return json(404, { detail: 'Not Found' });
      };
      const stall = faults.stallEvery && n % faults.stallEvery === 0 ? (faults.stallMs ?? 0) : 0;
      setTimeout(reply, stall);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
