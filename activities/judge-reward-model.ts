import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { replicaUrls, type RewardModel } from '../core/config.js';
import type { Message } from '../core/records.js';
import { askUntilReadable, type JudgeAdapter, type JudgeItem, type Reading } from './judge-adapter.js';
import type { JudgeOutcome } from './judge-cache.js';
import { readSecret } from '../core/secret-env.js';
import { OutageError } from '../core/outage-error.js';
import { OutageWatch, waitingOut } from './outage.js';

// The reply shapes of the three servers; anything else is an unreadable reply.
const ClassifyReply = z.object({
  data: z.array(z.object({ index: z.int(), probs: z.array(z.number()).min(1) })),
});
type Nested = number | Nested[];
const NestedNumbers: z.ZodType<Nested> = z.lazy(() => z.union([z.number(), z.array(NestedNumbers)]));
const PoolingReply = z.object({ data: z.array(z.object({ index: z.int(), data: NestedNumbers })) });
const OpenRlhfReply = z.object({ rewards: z.array(z.number()) });

/** A pooled output is one value per sequence or per token; a reward model's verdict is the last one. */
function lastScalar(value: Nested): number {
  return Array.isArray(value) ? lastScalar(value.at(-1) ?? NaN) : value;
}

/**
 * The conversation as the reward model reads it. `messages` leaves the chat template to the server
 * (vLLM renders it once, without adding a second BOS); `text` renders it here and strips a leading BOS,
 * because the server tokenizer adds its own.
 */
export function rewardInput(rm: RewardModel, prompt: string, response: string): Message[] | string {
  if (rm.input === 'messages' && rm.api !== 'openrlhf') {
    return [
      { role: 'user', content: prompt },
      { role: 'assistant', content: response },
    ];
  }
  const rendered = (rm.chatTemplate ?? '{prompt}{response}')
    .replace('{prompt}', () => prompt)
    .replace('{response}', () => response);
  return rm.bosToken && rendered.startsWith(rm.bosToken) ? rendered.slice(rm.bosToken.length) : rendered;
}

/** One request for a batch of inputs: the path, the body and how to read the reply's scores in order. */
function requestFor(rm: RewardModel, inputs: (Message[] | string)[]) {
  const model = rm.model === undefined ? {} : { model: rm.model };
  const chat = typeof inputs[0] !== 'string';
  // vLLM's chat form takes one conversation per request; the text form takes a list.
  const payload = chat ? { messages: inputs[0] } : { input: inputs };
  const byIndex = (rows: { index: number }[], value: (i: number) => number) =>
    rows.length === inputs.length ? inputs.map((_, i) => value(rows.findIndex((r) => r.index === i))) : null;
  switch (rm.api) {
    case 'vllm-classify':
      return {
        path: '/classify',
        // use_activation=false returns the raw logit: a reward, not a sigmoid-squashed probability.
        body: { ...model, ...payload, use_activation: false },
        read: (json: unknown) => {
          const reply = ClassifyReply.safeParse(json);
          if (!reply.success) return null;
          return byIndex(reply.data.data, (i) => reply.data.data[i]?.probs[0] ?? NaN);
        },
      };
    case 'vllm-pooling':
      return {
        path: '/pooling',
        body: { ...model, ...payload },
        read: (json: unknown) => {
          const reply = PoolingReply.safeParse(json);
          if (!reply.success) return null;
          return byIndex(reply.data.data, (i) => {
            const row = reply.data.data[i];
            return row ? lastScalar(row.data) : NaN;
          });
        },
      };
    case 'openrlhf':
      return {
        path: '/get_reward',
        body: { query: inputs },
        read: (json: unknown) => {
          const reply = OpenRlhfReply.safeParse(json);
          return reply.success && reply.data.rewards.length === inputs.length ? reply.data.rewards : null;
        },
      };
  }
}

/** A reward model over HTTP. Concurrent asks are gathered into batches of `batchSize` per request. */
export function rewardModelJudge(rm: RewardModel, fetchFn: typeof fetch = fetch): JudgeAdapter {
  const root = replicaUrls(rm.endpoint)[0]!.replace(/\/+$/, '');
  const apiKey = rm.endpoint.apiKeyEnv
    ? readSecret(rm.endpoint.apiKeyEnv, 'apiKey', 'judge.rewardModel.endpoint.apiKeyEnv')
    : undefined;
  const chatInput = rm.input === 'messages' && rm.api !== 'openrlhf';
  const batchSize = chatInput ? 1 : rm.batchSize;
  const watch = new OutageWatch(`reward model ${root}`, rm.endpoint.outageBudgetHours);

  async function post(inputs: (Message[] | string)[], signal: AbortSignal): Promise<Reading[]> {
    const request = requestFor(rm, inputs);
    const url = `${root}${request.path}`;
    const { response, text } = await waitingOut(
      watch,
      async () => {
        try {
          const response = await fetchFn(url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
            },
            body: JSON.stringify(request.body),
            signal: AbortSignal.any([signal, AbortSignal.timeout(rm.endpoint.requestTimeoutMs)]),
          });
          const text = await response.text();
          if (response.status >= 500 || response.status === 408 || response.status === 409)
            throw new OutageError(`${url} answered ${response.status}: ${text.slice(0, 200)}`);
          return { response, text };
        } catch (err) {
          // A timeout is one slow batch: askUntilReadable records it as an error, the shard goes on.
          if (err instanceof OutageError || signal.aborted || (err as Error).name === 'TimeoutError')
            throw err;
          throw new OutageError(`${url}: ${(err as Error).message}`); // refused or reset
        }
      },
      signal,
    );
    if (response.status >= 400 && response.status < 500 && ![408, 409, 429].includes(response.status)) {
      throw ApplicationFailure.nonRetryable(
        `${url} answered ${response.status}: ${text.slice(0, 500)}`,
        'RewardRequestRejected',
      );
    }
    if (!response.ok) throw new Error(`${url} answered ${response.status}: ${text.slice(0, 200)}`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const scores = request.read(json);
    return inputs.map((_, i) => ({ raw: text, score: scores?.[i] ?? null }));
  }

  // Asks that arrive together wait one tick and go out as one request.
  const queue: {
    input: Message[] | string;
    signal: AbortSignal;
    done: (o: Promise<JudgeOutcome>) => void;
  }[] = [];
  const flush = () => {
    const batch = queue.splice(0, batchSize);
    if (queue.length > 0) setImmediate(flush);
    if (batch.length === 0) return;
    const results = (async (): Promise<JudgeOutcome[]> => {
      // A batch whose reply is unreadable is asked again as a whole, then each item is recorded as such.
      let readings: Reading[] = [];
      const whole = await askUntilReadable(rm.attempts, async () => {
        readings = await post(
          batch.map((b) => b.input),
          batch[0]!.signal,
        );
        const unreadable = readings.some((r) => r.score === null || !Number.isFinite(r.score));
        return { raw: readings[0]?.raw.slice(0, 2000) ?? '', score: unreadable ? null : 0 };
      });
      return batch.map((_, i) =>
        whole.status === 'ok'
          ? { status: 'ok', score: readings[i]!.score, extracted: String(readings[i]!.score), raw: null }
          : whole,
      );
    })();
    batch.forEach((b, i) => b.done(results.then((o) => o[i]!)));
  };

  return {
    name: `rm:${rm.api}:${rm.model ?? root}`,
    identity: JSON.stringify({
      judge: 'rm',
      api: rm.api,
      model: rm.model ?? root,
      input: rm.input,
      template: rm.chatTemplate ?? null,
      bos: rm.bosToken ?? null,
    }),
    pairwise: false,
    concurrency: rm.endpoint.maxConcurrency * batchSize,
    judge: (item: JudgeItem, signal: AbortSignal) =>
      new Promise<JudgeOutcome>((resolve, reject) => {
        queue.push({
          input: rewardInput(rm, item.prompt, item.response),
          signal,
          done: (o) => o.then(resolve, reject),
        });
        if (queue.length >= batchSize) flush();
        else if (queue.length === 1) setImmediate(flush);
      }),
  };
}
