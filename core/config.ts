// The run config: its zod schema (the single source of truth for config types and docs/configuration.md),
// one file per part of the config, with its errors and the rules of updates to a running run.
export * from './config/endpoint.js';
export * from './config/generation.js';
export * from './config/judging.js';
export * from './config/trainer.js';
export * from './config/evaluation.js';
export * from './config/run.js';
export * from './config/errors.js';
export * from './config/update.js';
