import { ApplicationFailure } from '@temporalio/common';
import OpenAI from 'openai';
import type { Endpoint } from '../core/config.js';
import type { Message } from '../core/records.js';

export interface ChatRequest {
  model: string;
  messages: Message[];
  temperature: number;
  topP?: number;
  maxTokens: number;
  seed: number;
  signal?: AbortSignal;
  /** Ask for the top-n alternatives of each output token (pairwise judges read the first one). */
  topLogprobs?: number;
  /** Constrain the reply to this JSON schema (response_format json_schema; vLLM and OpenAI honour it). */
  jsonSchema?: { name: string; schema: Record<string, unknown> };
}

export interface ChatReply {
  text: string;
  finishReason: string | null;
  usage: { promptTokens: number; completionTokens: number } | null;
  model: string;
  latencyMs: number;
  /** Alternatives for the first output token, when asked for and returned. */
  firstTokenLogprobs?: { token: string; logprob: number }[];
}

export type ChatFn = (request: ChatRequest) => Promise<ChatReply>;

/** The OpenAI-compatible client of one endpoint. Keys come from the environment, never from config. */
export function openAIChat(endpoint: Endpoint): ChatFn {
  const client = new OpenAI({
    baseURL: endpoint.baseUrl,
    apiKey: (endpoint.apiKeyEnv && process.env[endpoint.apiKeyEnv]) || 'not-needed',
    // The SDK retries 408/409/429/5xx and connection errors with backoff and honours Retry-After;
    // what it gives up on surfaces as a retryable activity failure.
    maxRetries: 4,
    timeout: endpoint.requestTimeoutMs,
  });
  return async (request) => {
    const started = performance.now();
    try {
      const completion = await client.chat.completions.create(
        {
          model: request.model,
          messages: request.messages,
          temperature: request.temperature,
          top_p: request.topP,
          max_tokens: request.maxTokens,
          seed: request.seed,
          ...(request.topLogprobs ? { logprobs: true, top_logprobs: request.topLogprobs } : {}),
          ...(request.jsonSchema
            ? {
                response_format: {
                  type: 'json_schema' as const,
                  json_schema: { ...request.jsonSchema, strict: true },
                },
              }
            : {}),
        },
        { signal: request.signal },
      );
      const choice = completion.choices[0];
      if (!choice)
        throw ApplicationFailure.retryable(`${endpoint.baseUrl}: reply has no choices`, 'BadServerReply');
      return {
        text: choice.message.content ?? '',
        finishReason: choice.finish_reason ?? null,
        usage: completion.usage
          ? {
              promptTokens: completion.usage.prompt_tokens,
              completionTokens: completion.usage.completion_tokens,
            }
          : null,
        model: completion.model || request.model,
        latencyMs: performance.now() - started,
        ...(request.topLogprobs
          ? { firstTokenLogprobs: choice.logprobs?.content?.[0]?.top_logprobs ?? [] }
          : {}),
      };
    } catch (err) {
      throw classify(err, endpoint.baseUrl);
    }
  };
}

/** 4xx other than 408/409/429 will not get better by retrying: fail the step with the server's own words. */
function classify(err: unknown, baseUrl: string): unknown {
  if (err instanceof OpenAI.APIError && err.status !== undefined) {
    const retryable = err.status === 408 || err.status === 409 || err.status === 429 || err.status >= 500;
    if (!retryable) {
      return ApplicationFailure.nonRetryable(
        `${baseUrl} answered ${err.status}: ${err.message}`,
        'InferenceRequestRejected',
      );
    }
  }
  return err;
}

/**
 * Caps the requests in flight to one endpoint across every activity of this worker: shards run
 * concurrently, but the server sees at most `limit` requests at once.
 */
export function limitConcurrency(chat: ChatFn, limit: number): ChatFn {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (request) => {
    // A finishing request hands its slot straight to the next waiter, so the cap holds exactly.
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await chat(request);
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}
