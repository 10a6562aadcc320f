import { ApplicationFailure, Context } from '@temporalio/activity';
import { replicaUrls, type Endpoint, type Serve } from '../core/config.js';
import type { ModelRef, ServeInput, Served } from '../core/steps.js';
import { heartbeat, withHeartbeat } from './heartbeat.js';
import type { ChatFn } from './inference.js';
import { hookArgv, readiness, runHook } from './serve-restart.js';
import { swapAdapter, vllmReplica } from './serve-vllm.js';
import { servedAdapterOf } from './training/registry.js';

export interface ServeDeps {
  chatFor: (model: ModelRef) => ChatFn;
}

const POLL_MS = 2_000;

/** One replica as an endpoint of its own, so that a probe reaches that replica and no other. */
const onlyReplica = (endpoint: Endpoint, baseUrl: string): Endpoint => ({
  ...endpoint,
  baseUrl,
  baseUrls: undefined,
});

/**
 * Makes every replica of the policy endpoint answer with a checkpoint, then proves it with a real
 * completion from each replica naming the checkpoint. How the server takes it is `serve.kind`:
 * by-path (`transformers serve` loads it on that first request), vllm-lora (hot-swap the adapter) or
 * restart (the hook restarts the server on the full weights; every replica is awaited). Heartbeats
 * every 10 s throughout, with what is being waited for.
 */
export function createServeActivities({ chatFor }: ServeDeps) {
  return {
    async serveCheckpoint(input: ServeInput): Promise<Served> {
      const ctx = Context.current();
      const { endpoint, model } = input;
      const serve: Serve = input.serve ?? { kind: 'by-path' };
      const urls = replicaUrls(endpoint);
      let waiting = `${serve.kind}: ${model}`;
      return withHeartbeat(
        () => waiting,
        async () => {
          if (serve.kind === 'vllm-lora') {
            // Downstream steps name the policy by its checkpoint path; vLLM loads it from the summed adapter.
            const served = await servedAdapterOf(model);
            if (served === null) {
              throw ApplicationFailure.nonRetryable(
                `${model} has no adapter vLLM can serve over the base model (a full fine-tune, or a LoRA ` +
                  'checkpoint registered before servedAdapter): serve it with policy.serve.kind restart',
                'ServeRejected',
              );
            }
            await Promise.all(
              urls.map((url) =>
                swapAdapter(vllmReplica(url, endpoint), model, served.adapter, input.replaces),
              ),
            );
          } else if (serve.kind === 'restart') {
            const replicas = urls.map((url) => vllmReplica(url, endpoint));
            const pending = async () =>
              (await Promise.all(replicas.map((r) => readiness(r, model)))).filter((x) => x !== null);
            // A retry after a finished restart finds the checkpoint served and restarts nothing.
            if ((await pending()).length > 0) {
              waiting = `restart hook for ${model}`;
              await runHook(hookArgv(serve.command, model), serve.healthTimeoutMs, ctx.cancellationSignal);
              const deadline = Date.now() + serve.healthTimeoutMs;
              for (let left = await pending(); left.length > 0; left = await pending()) {
                waiting = `waiting for ${left.length}/${replicas.length} replica(s): ${left.join('; ')}`;
                heartbeat(waiting);
                if (Date.now() > deadline) {
                  throw ApplicationFailure.retryable(
                    `${model} not served after ${serve.healthTimeoutMs} ms: ${left.join('; ')}`,
                    'ServeTimeout',
                  );
                }
                await ctx.sleep(POLL_MS);
              }
            }
          }
          waiting = `probing ${urls.length} replica(s) with ${model}`;
          const probes = await Promise.all(
            urls.map((url) => probe(chatFor, onlyReplica(endpoint, url), model, input.probe)),
          );
          return { endpoint, model, probe: probes[0]! };
        },
      );
    },
  };
}

/** What the probe asks each replica. */
export const PROBE_QUESTION = 'What is 2 + 3? Answer with a number.';

/** A real completion from one replica; empty, or from another model than asked, is not serving it. */
async function probe(
  chatFor: ServeDeps['chatFor'],
  endpoint: Endpoint,
  model: string,
  sampling: ServeInput['probe'] = { temperature: 0, topP: 1 },
): Promise<string> {
  const reply = await chatFor({ endpoint, model })({
    model,
    messages: [{ role: 'user', content: PROBE_QUESTION }],
    ...sampling,
    maxTokens: 16,
    seed: 0,
    signal: Context.current().cancellationSignal,
  });
  const where = `${endpoint.baseUrl} (model ${model})`;
  if (reply.text.trim() === '') {
    throw ApplicationFailure.retryable(`${where} answered nothing`, 'ServeProbeFailed');
  }
  // transformers serve names the model with a revision (`path@main`), so only the prefix must match.
  if (!reply.model.startsWith(model)) {
    throw ApplicationFailure.retryable(`${where} answered as ${reply.model}`, 'ServeProbeFailed');
  }
  return reply.text;
}
