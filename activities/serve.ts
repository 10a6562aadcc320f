import { ApplicationFailure, Context } from '@temporalio/activity';
import type { ModelRef } from '../core/steps.js';
import { replicaUrls } from '../core/config.js';
import type { ChatFn } from './inference.js';

export interface ServeDeps {
  chatFor: (model: ModelRef) => ChatFn;
}

/**
 * Makes the inference server answer with a checkpoint. `transformers serve` loads a model by path on its
 * first request, so serving is proven by a real completion from that path; the reply must not be empty.
 */
export function createServeActivities({ chatFor }: ServeDeps) {
  return {
    async serveCheckpoint(target: ModelRef): Promise<ModelRef & { probe: string }> {
      const reply = await chatFor(target)({
        model: target.model,
        messages: [{ role: 'user', content: 'What is 2 + 3? Answer with a number.' }],
        temperature: 0,
        maxTokens: 16,
        seed: 0,
        signal: Context.current().cancellationSignal,
      });
      if (reply.text.trim() === '') {
        throw ApplicationFailure.retryable(
          `${replicaUrls(target.endpoint).join(', ')} served ${target.model} but answered nothing`,
          'ServeProbeFailed',
        );
      }
      return { ...target, probe: reply.text };
    },
  };
}
