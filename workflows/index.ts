export { evolveRun } from './run.js';
export { evolveIteration, iterationProgressQuery } from './iteration.js';
