import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Custom search attributes; the embedded server registers them at start (see deploy/stack.ts). */
export const RunIdKey = defineSearchAttributeKey('EvolveRunId', SearchAttributeType.KEYWORD);
export const IterationKey = defineSearchAttributeKey('EvolveIteration', SearchAttributeType.INT);
export const StepKey = defineSearchAttributeKey('EvolveStep', SearchAttributeType.KEYWORD);
export const BaseModelKey = defineSearchAttributeKey('EvolveBaseModel', SearchAttributeType.KEYWORD);

export const searchAttributeKeys = [RunIdKey, IterationKey, StepKey, BaseModelKey];

/** `NAME=Type` as `temporal server start-dev --search-attribute` takes it. */
export const searchAttributeFlags = searchAttributeKeys.map(
  (k) => `${k.name}=${k.type === SearchAttributeType.INT ? 'Int' : 'Keyword'}`,
);
