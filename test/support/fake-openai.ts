import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BatchingFleet, type BatchingSpec, type FleetStats } from './batching-fleet.js';
import { quotedCredential } from './echo-server.js';

/**
 * An OpenAI-compatible chat server for fault injection and load simulation: it answers arithmetic
 * questions (right for even seeds, off by one for odd ones), scores judge prompts (pointwise, and
 * pairwise preferring the longer answer), fails requests on a schedule or at random, and can model
 * vLLM replicas under continuous batching. `GET /stats` returns its counters as JSON.
 */
export interface FaultPlan {
  /** Every n-th request answers HTTP 500. */
  serverErrorEvery?: number;
  /** Every n-th request answers HTTP 429 with Retry-After: 0. */
  rateLimitEvery?: number;
  /** Every n-th request is held this long before answering (for client timeouts). */
  stallEvery?: number;
  stallMs?: number;
  /** Shares of requests that answer 500 / stall for `stallMs`, drawn from a generator seeded by `seed`. */
  serverErrorRate?: number;
  stallRate?: number;
  /** Share of replies sent as HTTP 200 with a cut-off JSON body, as a proxy dropping the connection does. */
  malformedRate?: number;
  seed?: number;
  /** Requests whose number modulo `period` is below `length` answer 429 with Retry-After `retryAfterS`. */
  rateLimitBurst?: { period: number; length: number; retryAfterS: number };
  /** Up but broken: every chat request answers 503. Can be flipped while the server runs. */
  down?: boolean;
  /** Every chat request answers 400 with this message, as a server rejecting a bad request does. */
  badRequest?: string;
  /** A fixed reply to refinement requests (several messages), e.g. a refusal cut at max tokens. */
  refinementReply?: { text: string; finishReason: string };
  /** Answer `n` choices when asked, as vLLM does (`transformers serve` answers one). */
  honoursN?: boolean;
  /** Fixed latency of every reply. */
  latencyMs?: number;
  /** Answer 401 unless the request carries `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /**
   * Every reply (HTTP 200) opens with the request's Authorization header quoted in every encoding of
   * `quotedCredential`, as a server that echoes its request into the completion does.
   */
  echoAuthorization?: boolean;
  /**
   * A GPU-bound server (batching-fleet.ts): replies of lognormal length, real-sized text, each after
   * its prefill and decode in a simulated replica. Replicas of one fleet share a `FleetClock`.
   */
  batching?: BatchingSpec;
}

export interface FakeStats {
  total: number;
  served: number;
  failed: number;
  inFlight: number;
  peakInFlight: number;
  /** Requests that arrived while a Retry-After this server gave was still running. */
  early: number;
  /** Replies the client no longer waited for (it timed out). */
  abandoned: number;
  /** Batching mode: the whole fleet's figures, in simulated seconds. */
  fleet?: FleetStats;
  /** From the first request's arrival to the last reply. */
  spanMs: number;
}

export interface FakeServer {
  baseUrl: string;
  plan: FaultPlan;
  requests: FakeStats & {
    byModel: Map<string, number>;
    lastBody: Record<string, unknown> | null;
    /** Authorization headers seen, to prove API keys reached the server. */
    authorizations: Set<string>;
    /** Chat requests received (answered or not) by [model, messages, seed]. */
    received: Map<string, number>;
    /** Whole replies the client read, by the same key: what a paid API bills. */
    delivered: Map<string, number>;
  };
  close(): Promise<void>;
}

interface ChatBody {
  model: string;
  messages: { role: string; content: string }[];
  seed?: number;
  max_tokens?: number;
  n?: number;
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

function answer(body: ChatBody, seed: number): string {
  const last = body.messages.at(-1)?.content ?? '';
  // A judge's score depends on its prompt, rubric included (here through the prompt's length).
  if (last.includes('Score (1-')) return String(1 + ((seed + last.length) % 10));
  const question = body.messages.find((m) => m.role === 'user')?.content ?? '';
  const [a, b] = (question.match(/\d+/g) ?? ['0', '0']).map(Number);
  const right = question.includes('more') ? a! + b! : a! - b!;
  const isRefinement = body.messages.length > 1;
  // Refinements always fix the answer: the data then holds refinement pairs, as EVOLVE expects.
  const value = isRefinement || seed % 2 === 0 ? right : right + 1;
  return `Let me think. The answer is ${value}.`;
}

/** A small deterministic generator (mulberry32), so a fault plan replays the same faults. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * A `BatchingFleet` run on the wall clock: simulated time is wall time since start times `timeScale`,
 * and one timer wakes the fleet when its next sequence finishes. Replicas served by one process
 * share it, so the fleet's slot use is measured on one timeline.
 */
export class FleetClock {
  readonly fleet: BatchingFleet;
  private readonly start = performance.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly spec: BatchingSpec) {
    this.fleet = new BatchingFleet(spec);
  }

  private now(): number {
    return ((performance.now() - this.start) / 1000) * this.spec.timeScale;
  }

  private wake(): void {
    clearTimeout(this.timer);
    const next = this.fleet.untilNextFinish();
    if (next === Infinity) return;
    this.timer = setTimeout(() => this.settle(), (next / this.spec.timeScale) * 1000);
  }

  decode(replica: number, promptTokens: number, outputTokens: number, done: () => void): void {
    this.fleet.submit(this.now(), replica, promptTokens, outputTokens, done);
    this.wake();
  }

  /** Brings the fleet up to now (finishing what is due), e.g. before reading its stats. */
  settle(): FleetStats {
    this.fleet.advance(this.now());
    this.wake();
    return this.fleet.stats;
  }
}

/** Reasoning-like filler that pads a reply to its simulated length. */
const FILLER = 'We check each step of the computation once more before writing it down. '.repeat(2048);

/**
 * `replica` places this server in a fleet shared with other servers of the process; alone, a server
 * with `plan.batching` is a fleet of its own.
 */
export async function startFakeOpenAI(
  plan: FaultPlan = {},
  replica?: { clock: FleetClock; index: number },
): Promise<FakeServer> {
  const requests: FakeServer['requests'] = {
    total: 0,
    served: 0,
    failed: 0,
    inFlight: 0,
    peakInFlight: 0,
    early: 0,
    abandoned: 0,
    spanMs: 0,
    byModel: new Map<string, number>(),
    lastBody: null,
    authorizations: new Set<string>(),
    received: new Map<string, number>(),
    delivered: new Map<string, number>(),
  };
  const draw = random(plan.seed ?? 1);
  const batching = replica ?? (plan.batching && { clock: new FleetClock(plan.batching), index: 0 });
  let firstAt = 0;
  let retryAfterUntil = 0;
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
      const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
      if (req.method === 'GET') {
        if (req.url?.endsWith('/stats')) {
          const byModel = Object.fromEntries(requests.byModel);
          return json(200, {
            ...requests,
            fleet: batching?.clock.settle(),
            byModel,
            lastBody: undefined,
            received: undefined,
            delivered: undefined,
          });
        }
        return json(200, { object: 'list', data: [] });
      }
      const n = ++requests.total;
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChatBody;
      const billed = JSON.stringify([body.model, body.messages, body.seed]);
      requests.received.set(billed, (requests.received.get(billed) ?? 0) + 1);
      const now = performance.now();
      firstAt ||= now;
      if (now < retryAfterUntil) requests.early++;
      const fail = (status: number, message: string, headers: Record<string, string> = {}) => {
        requests.failed++;
        json(status, { error: { message, type: 'injected' } }, headers);
      };
      if (plan.down) return fail(503, 'injected 503: replica down');
      if (plan.badRequest) return fail(400, plan.badRequest);
      if (plan.serverErrorEvery && n % plan.serverErrorEvery === 0) return fail(500, 'injected 500');
      if (plan.serverErrorRate && draw() < plan.serverErrorRate) return fail(500, 'injected 500');
      if (plan.rateLimitEvery && n % plan.rateLimitEvery === 0)
        return fail(429, 'injected 429', { 'retry-after': '0' });
      const burst = plan.rateLimitBurst;
      if (burst && n % burst.period < burst.length) {
        retryAfterUntil = Math.max(retryAfterUntil, now + burst.retryAfterS * 1000);
        return fail(429, 'injected 429 burst', { 'retry-after': String(burst.retryAfterS) });
      }
      requests.lastBody = body as unknown as Record<string, unknown>;
      requests.peakInFlight = Math.max(requests.peakInFlight, ++requests.inFlight);
      // Batching mode: the reply's length, drawn before it is decoded.
      let drawn: { tokens: number; capped: boolean } | undefined;
      const reply = () => {
        requests.inFlight--;
        if (res.destroyed) return void requests.abandoned++; // the client gave up (timeout)
        requests.served++;
        requests.spanMs = performance.now() - firstAt;
        requests.byModel.set(body.model, (requests.byModel.get(body.model) ?? 0) + 1);
        const count = plan.honoursN ? (body.n ?? 1) : 1;
        const fixed = body.messages.length > 1 ? plan.refinementReply : undefined;
        const judged = pairwise(body.messages.at(-1)?.content ?? '');
        const choices = Array.from({ length: count }, (_, index) => {
          const short = fixed?.text ?? judged?.text ?? answer(body, (body.seed ?? 0) + index);
          const chars = drawn ? drawn.tokens * plan.batching!.charsPerToken : 0;
          const padded =
            chars > short.length ? FILLER.slice(0, chars - short.length - 1) + ' ' + short : short;
          const echoed = plan.echoAuthorization && req.headers.authorization;
          const text = echoed ? `${quotedCredential(echoed)}\n${padded}` : padded;
          const logprobs =
            body.logprobs && judged?.top
              ? {
                  content: [
                    { token: text, logprob: judged.top[0]!.logprob, bytes: [], top_logprobs: judged.top },
                  ],
                }
              : null;
          return {
            index,
            message: { role: 'assistant', content: text },
            logprobs,
            finish_reason: fixed?.finishReason ?? (drawn?.capped ? 'length' : 'stop'),
          };
        });
        const tokens = drawn?.tokens ?? choices[0]!.message.content.length;
        if (plan.malformedRate && draw() < plan.malformedRate) {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"id": "chatcmpl-cut", "choi');
          return;
        }
        res.once('finish', () => requests.delivered.set(billed, (requests.delivered.get(billed) ?? 0) + 1));
        json(200, {
          id: `chatcmpl-${n}`,
          object: 'chat.completion',
          created: 0,
          model: body.model,
          choices,
          usage: { prompt_tokens: 10, completion_tokens: tokens * count, total_tokens: 10 + tokens * count },
        });
      };
      const stalled =
        (plan.stallEvery && n % plan.stallEvery === 0) || (plan.stallRate && draw() < plan.stallRate);
      const delay = (stalled ? (plan.stallMs ?? 0) : 0) + (plan.latencyMs ?? 0);
      const decode = (b: NonNullable<typeof batching>) => () => {
        const { fleet } = b.clock;
        drawn = fleet.outputTokens(body.max_tokens ?? Infinity);
        const prompt = fleet.promptTokens(body.messages.reduce((n, m) => n + m.content.length, 0));
        b.clock.decode(b.index, prompt, drawn.tokens, reply);
      };
      const respond = batching ? decode(batching) : reply;
      if (delay > 0) setTimeout(respond, delay);
      else respond();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    plan,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
