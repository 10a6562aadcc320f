import { ApplicationFailure } from '@temporalio/common';
import type { Endpoint } from '../core/config.js';
import { ConfigError } from '../core/config.js';
import type { ModelRef } from '../core/steps.js';
import { DataError } from '../storage/files.js';
import { summarizeEvaluation } from './evaluate.js';
import { createGenerationActivities } from './generate.js';
import { openAIChat, type ChatFn } from './inference.js';
import { createJudgeActivities } from './judge.js';
import { buildPairs } from './pair.js';
import { loadPrompts, validateConfig } from './prompts.js';
import { redact, redactError, scrubValue } from '../core/redact.js';
import { createServeActivities } from './serve.js';
import { buildSftSet } from './sft-set.js';
import { createSuiteActivities } from './suites.js';
import { createTrainingActivities } from './training/index.js';

export interface ActivityDeps {
  /** Inference client of an endpoint; tests inject fault-injecting ones. */
  chatFor: (model: ModelRef) => ChatFn;
  /** HTTP client of reward-model servers (default: the global fetch). */
  fetch?: typeof fetch;
}

/** One client per endpoint, shared by all activities: one connection pool and one concurrency cap. */
export function defaultDeps(): ActivityDeps {
  const clients = new Map<string, ChatFn>();
  const chatFor = ({ endpoint }: { endpoint: Endpoint }) => {
    const key = JSON.stringify(endpoint);
    let chat = clients.get(key);
    if (!chat) clients.set(key, (chat = openAIChat(endpoint)));
    return chat;
  };
  return { chatFor };
}

/**
 * Bad config or bad data will fail every retry the same way: fail once, with the message a user can act
 * on. Every failure and every result leaves redacted (core/redact.ts): both go into the history, and the
 * workflow publishes what results hold (search attributes, memo, query answers, current details). A
 * result gets the secrets alone replaced: its other text (a config's templates) stays as it is.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function failFastOnBadInput(fn: (...args: any[]) => Promise<unknown>) {
  return async (...args: unknown[]) => {
    try {
      return scrubValue(await fn(...args));
    } catch (err) {
      if (err instanceof ConfigError || err instanceof DataError) {
        throw ApplicationFailure.nonRetryable(redact(err.message), err.name);
      }
      throw redactError(err);
    }
  };
}

export function createActivities(deps: ActivityDeps = defaultDeps()) {
  const activities = {
    validateConfig,
    loadPrompts,
    ...createGenerationActivities(deps),
    ...createJudgeActivities(deps),
    buildPairs,
    buildSftSet,
    ...createTrainingActivities(),
    ...createServeActivities(deps),
    summarizeEvaluation,
    ...createSuiteActivities(deps),
  };
  const wrapped = Object.entries(activities).map(([name, fn]) => [name, failFastOnBadInput(fn)]);
  return Object.fromEntries(wrapped) as unknown as typeof activities;
}

export type Activities = ReturnType<typeof createActivities>;
