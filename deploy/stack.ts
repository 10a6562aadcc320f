// The embedded stack (evolve up/down/status): its settings and commands, the processes it owns, their
// health checks, and bringing it up and down in order.
export * from './stack/settings.js';
export * from './stack/processes.js';
export * from './stack/health.js';
export * from './stack/lifecycle.js';
