import { semaphore } from '../core/concurrency.js';
import { ApplicationFailure } from '@temporalio/common';
import { setMaxListeners } from 'node:events';
import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { replicaUrls, type Endpoint } from '../core/config.js';
import type { Message } from '../core/records.js';
import { readSecret } from '../core/secret-env.js';
import { OutageWatch } from './outage.js';

export interface ChatRequest {
  model: string;
  messages: Message[];
  temperature: number;
  topP?: number;
  maxTokens: number;
  seed: number;
  signal?: AbortSignal;
  /** Sends no further attempt once aborted (a superseded shard attempt); an attempt in flight still lands. */
  stop?: AbortSignal;
  /** Ask for the top-n alternatives of each output token (pairwise judges read the first one). */
  topLogprobs?: number;
  /** Constrain the reply to this JSON schema (response_format json_schema; vLLM and OpenAI honour it). */
  jsonSchema?: { name: string; schema: Record<string, unknown> };
}

/**
 * A request with an official judge's own decoding parameters, sent exactly as the official harness
 * sends them (no seed, no defaults added), so that its requests can be compared field by field.
 */
export interface ExactChatRequest {
  model: string;
  messages: Message[];
  params: Record<string, unknown>;
  signal?: AbortSignal;
  stop?: AbortSignal;
}

export interface ChatReply {
  text: string;
  finishReason: string | null;
  usage: { promptTokens: number; completionTokens: number } | null;
  model: string;
  latencyMs: number;
  /** The seed the server was sent, where it differs from the request's (one `n` request, one seed). */
  seed?: number;
  /** Alternatives for the first output token, when asked for and returned. */
  firstTokenLogprobs?: { token: string; logprob: number }[];
  /** The choice as the server sent it (exact requests: the official parsers read it). */
  choice?: Record<string, unknown>;
}

/** One completion; `many`, where present, asks for several completions of one request in one call. */
export type ChatFn = ((request: ChatRequest) => Promise<ChatReply>) & {
  many?: (request: ChatRequest, seeds: number[]) => Promise<ChatReply[]>;
  exact?: (request: ExactChatRequest) => Promise<ChatReply>;
};

/** One completion per seed: a single `n` request where the client can, else one request per seed. */
export function chatMany(chat: ChatFn, request: ChatRequest, seeds: number[]): Promise<ChatReply[]> {
  if (chat.many && seeds.length > 1) return chat.many(request, seeds);
  return Promise.all(seeds.map((seed) => chat({ ...request, seed })));
}

const DEFAULT_ATTEMPTS = 8;
const DEFAULT_COOLDOWN_MS = 30_000;
/** Consecutive failures that take a replica out of rotation. */
const EJECT_AFTER = 3;
const BACKOFF_BASE_MS = 100;
const BACKOFF_MAX_MS = 10_000;

class Replica {
  inFlight = 0;
  failures = 0;
  ejectedUntil = 0;
  /** Set by a 429's Retry-After: nothing is sent here before it. */
  notBefore = 0;
  constructor(
    readonly url: string,
    readonly client: OpenAI,
  ) {}
  get ejected(): boolean {
    return this.failures >= EJECT_AFTER;
  }
}

/** What one failed attempt means: give up now, or retry (after `waitMs`, if the server asked). */
type AttemptOutcome =
  | { kind: 'fatal'; error: unknown }
  | { kind: 'rate-limited'; waitMs: number | null; message: string }
  | { kind: 'unhealthy'; message: string };

function judgeError(err: unknown, url: string): AttemptOutcome {
  if (err instanceof OpenAI.APIUserAbortError) return { kind: 'fatal', error: err };
  if (err instanceof OpenAI.APIError && err.status !== undefined) {
    const message = `${url} answered ${err.status}: ${err.message}`;
    if (err.status === 429)
      return { kind: 'rate-limited', waitMs: capRetryAfter(retryAfterMs(err.headers)), message };
    if (err.status === 408 || err.status === 409 || err.status >= 500) return { kind: 'unhealthy', message };
    // Any other 4xx will not get better by retrying: fail the step with the server's own words.
    return {
      kind: 'fatal',
      error: ApplicationFailure.nonRetryable(message, 'InferenceRequestRejected'),
    };
  }
  if (err instanceof ApplicationFailure && err.nonRetryable) return { kind: 'fatal', error: err };
  // Timeouts, refused or reset connections, malformed replies.
  return { kind: 'unhealthy', message: `${url}: ${(err as Error).message}` };
}

/** The longest Retry-After honoured: a huge one would park a replica (and overflow timers) for good. */
export const MAX_RETRY_AFTER_MS = 300_000;

/** A Retry-After within [0, MAX_RETRY_AFTER_MS]. */
export const capRetryAfter = (ms: number | null): number | null =>
  ms === null ? null : Math.min(ms, MAX_RETRY_AFTER_MS);

/** `retry-after-ms` (OpenAI), else `retry-after` in seconds or as an HTTP date. */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | null {
  const ms = Number(headers?.get('retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers?.get('retry-after');
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A signal of one SDK call that aborts with `parent`. The openai SDK adds an abort listener to the
 * signal it is given and never removes it: on an activity's one cancellation signal, every request of
 * a shard (listener, abort controller, fetch state) would stay reachable until the activity ends.
 * `release` unlinks the call's signal from `parent` once the call is done.
 */
function callSignal(parent: AbortSignal | undefined): { signal?: AbortSignal; release(): void } {
  if (!parent) return { release: () => undefined };
  const controller = new AbortController();
  const abort = () => controller.abort(parent.reason);
  if (parent.aborted) abort();
  else parent.addEventListener('abort', abort, { once: true });
  return { signal: controller.signal, release: () => parent.removeEventListener('abort', abort) };
}

/** The server is unreachable or failing as a whole (not a malformed reply, not a rate limit). */
const isOutage = (err: unknown) =>
  err instanceof OpenAI.APIConnectionError ||
  (err instanceof OpenAI.APIError &&
    err.status !== undefined &&
    (err.status >= 500 || err.status === 408 || err.status === 409));

/**
 * Whether a failing request stops retrying: when its server has been down for longer than the outage
 * budget (non-retryable: the budget was the wait), or when it failed `maxAttempts` times while other
 * requests got replies (this request is at fault; the activity's retries take it from there).
 */
function giveUp(
  watch: OutageWatch,
  last: { outage: boolean; message: string },
  attempt: number,
  maxAttempts: number,
  since: number,
) {
  const { outage } = last;
  if (outage && watch.exhausted)
    return ApplicationFailure.nonRetryable(watch.giveUpMessage(), 'InferenceUnavailable');
  if (attempt >= maxAttempts && (!outage || watch.othersSucceededSince(since)))
    return ApplicationFailure.retryable(
      `${watch.name}: no reply after ${attempt} attempts; last: ${last.message}`,
      'InferenceUnavailable',
    );
  return null;
}

const anyOf = (...signals: (AbortSignal | undefined)[]) => {
  const set = signals.filter((s) => s !== undefined);
  return set.length > 1 ? AbortSignal.any(set) : set[0];
};

const backoff = (attempt: number) =>
  Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);

/**
 * The client of one endpoint, shared by every activity of a worker: at most `maxConcurrency`
 * requests in flight over all replicas; each request goes to the healthy replica with the fewest in
 * flight. A replica failing `EJECT_AFTER` times in a row gets no traffic for `ejectCooldownMs`, then
 * one probe request at a time until one succeeds. Timeouts, connection errors, 408/409/5xx and 429 are
 * retried with jittered exponential backoff, on another replica where there is one; a 429 keeps its
 * replica idle for its Retry-After. Keys come from the environment, never from config.
 */
export function openAIChat(endpoint: Endpoint): ChatFn {
  const apiKey =
    (endpoint.apiKeyEnv && readSecret(endpoint.apiKeyEnv, 'apiKey', 'apiKeyEnv')) || 'not-needed';
  const replicas = replicaUrls(endpoint).map(
    (url) =>
      new Replica(
        url,
        new OpenAI({ baseURL: url, apiKey, maxRetries: 0, timeout: endpoint.requestTimeoutMs }),
      ),
  );
  const slots = semaphore(endpoint.maxConcurrency);
  const watch = new OutageWatch(`endpoint ${replicaUrls(endpoint).join(', ')}`, endpoint.outageBudgetHours);
  const maxAttempts = endpoint.maxAttempts ?? DEFAULT_ATTEMPTS;
  const cooldownMs = endpoint.ejectCooldownMs ?? DEFAULT_COOLDOWN_MS;
  let turn = 0;

  /**
   * The replica for the next attempt, counted in flight there at once; waits while every replica is
   * inside a Retry-After. Counting it here rather than after the caller resumes matters for bursts:
   * requests picking in the same tick (a shard's first requests, slots freed together) would all see
   * the same counts and all go to the one least busy replica.
   */
  async function pick(signal?: AbortSignal): Promise<Replica> {
    for (;;) {
      const now = Date.now();
      const open = replicas.filter((r) => r.notBefore <= now);
      if (open.length === 0) {
        await sleep(Math.min(...replicas.map((r) => r.notBefore)) - now, signal);
        continue;
      }
      const healthy = open.filter((r) => !r.ejected || (r.ejectedUntil <= now && r.inFlight === 0));
      // With every replica ejected, the one back soonest is tried anyway: requests fail after their
      // attempts rather than wait forever for a dead endpoint.
      const pool =
        healthy.length > 0 ? healthy : [open.reduce((a, b) => (b.ejectedUntil < a.ejectedUntil ? b : a))];
      turn = (turn + 1) % pool.length;
      let best = pool[turn]!;
      for (const r of pool) if (r.inFlight < best.inFlight) best = r;
      best.inFlight++;
      return best;
    }
  }

  const sampledBody = (request: ChatRequest, seeds: number[]) =>
    ({
      ...endpoint.extraBody,
      model: request.model,
      messages: request.messages,
      temperature: request.temperature,
      top_p: request.topP,
      max_tokens: request.maxTokens,
      seed: seeds[0],
      ...(seeds.length > 1 ? { n: seeds.length } : {}),
      ...(request.topLogprobs ? { logprobs: true, top_logprobs: request.topLogprobs } : {}),
      ...(request.jsonSchema
        ? { response_format: { type: 'json_schema', json_schema: { ...request.jsonSchema, strict: true } } }
        : {}),
    }) as ChatCompletionCreateParamsNonStreaming;

  async function call(
    request: Pick<ChatRequest, 'model' | 'signal' | 'stop' | 'topLogprobs'>,
    body: ChatCompletionCreateParamsNonStreaming,
    seeds: (number | undefined)[],
  ): Promise<ChatReply[]> {
    const n = seeds.length;
    // Every request in flight of an activity listens on its one cancellation signal.
    if (request.signal) setMaxListeners(0, request.signal);
    const firstTry = Date.now();
    for (let attempt = 1; ; attempt++) {
      request.stop?.throwIfAborted();
      await slots.acquire();
      let replica: Replica | undefined;
      let wait = 0;
      let failure: { outage: boolean; message: string } | undefined;
      const signal = callSignal(request.signal);
      try {
        replica = await pick(request.signal);
        const started = performance.now();
        const completion = await replica.client.chat.completions.create(body, { signal: signal.signal });
        const latencyMs = performance.now() - started;
        const choices = [...completion.choices].sort((a, b) => a.index - b.index);
        if (choices.length !== n) {
          throw ApplicationFailure.nonRetryable(
            `${replica.url} answered ${choices.length} choice(s) for n=${n}` +
              (n > 1 ? ': the server ignores `n`, set supportsN: false for this endpoint' : ''),
            'BadServerReply',
          );
        }
        replica.failures = 0;
        watch.succeeded();
        // The request's usage goes on its first completion, so that sums over records stay right.
        const usage = completion.usage
          ? {
              promptTokens: completion.usage.prompt_tokens,
              completionTokens: completion.usage.completion_tokens,
            }
          : null;
        return choices.map((choice, i) => ({
          text: choice.message.content ?? '',
          finishReason: choice.finish_reason ?? null,
          usage: i === 0 ? usage : null,
          model: completion.model || request.model,
          latencyMs,
          seed: seeds[0],
          ...(request.topLogprobs
            ? { firstTokenLogprobs: choice.logprobs?.content?.[0]?.top_logprobs ?? [] }
            : {}),
          ...(seeds[0] === undefined ? { choice: choice as unknown as Record<string, unknown> } : {}),
        }));
      } catch (err) {
        if (!replica) throw err;
        const verdict = judgeError(err, replica.url);
        if (verdict.kind === 'fatal') throw verdict.error;
        failure = { outage: isOutage(err), message: verdict.message };
        if (failure.outage) watch.failed(failure.message);
        if (verdict.kind === 'rate-limited') {
          replica.notBefore = Date.now() + (verdict.waitMs ?? backoff(attempt));
        } else {
          if (++replica.failures >= EJECT_AFTER) replica.ejectedUntil = Date.now() + cooldownMs;
          // Another healthy replica takes the retry at once; with none, back off.
          const now = Date.now();
          const failed = replica;
          const elsewhere = replicas.some((r) => r !== failed && r.notBefore <= now && !r.ejected);
          wait = elsewhere ? 0 : backoff(attempt);
        }
      } finally {
        signal.release();
        if (replica) replica.inFlight--;
        slots.release();
      }
      const verdict = failure && giveUp(watch, failure, attempt, maxAttempts, firstTry);
      if (verdict) throw verdict;
      if (wait > 0) await sleep(wait, anyOf(request.signal, request.stop));
    }
  }

  const chat: ChatFn = async (request) =>
    (await call(request, sampledBody(request, [request.seed]), [request.seed]))[0]!;
  if (endpoint.supportsN) chat.many = (request, seeds) => call(request, sampledBody(request, seeds), seeds);
  chat.exact = async (request) => {
    const body = {
      ...endpoint.extraBody,
      model: request.model,
      messages: request.messages,
      ...request.params,
    };
    return (await call(request, body as ChatCompletionCreateParamsNonStreaming, [undefined]))[0]!;
  };
  return chat;
}
