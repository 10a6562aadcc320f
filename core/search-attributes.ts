import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Custom search attributes; the embedded server registers them at start (see deploy/stack.ts). */
export const RunIdKey = defineSearchAttributeKey('EvolveRunId', SearchAttributeType.KEYWORD);
export const IterationKey = defineSearchAttributeKey('EvolveIteration', SearchAttributeType.INT);
export const StepKey = defineSearchAttributeKey('EvolveStep', SearchAttributeType.KEYWORD);
export const BaseModelKey = defineSearchAttributeKey('EvolveBaseModel', SearchAttributeType.KEYWORD);
/** What the run is doing in EVOLVE's terms (Temporal's own status cannot say "paused"). */
export const StatusKey = defineSearchAttributeKey('EvolveStatus', SearchAttributeType.KEYWORD);
export type EvolveStatus = 'running' | 'paused' | 'stopping' | 'completed' | 'failed' | 'cancelled';

export const searchAttributeKeys = [RunIdKey, IterationKey, StepKey, BaseModelKey, StatusKey];

/** `NAME=Type` as `temporal server start-dev --search-attribute` takes it. */
export const searchAttributeFlags = searchAttributeKeys.map(
  (k) => `${k.name}=${k.type === SearchAttributeType.INT ? 'Int' : 'Keyword'}`,
);
