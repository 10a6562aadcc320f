export { evolveRun } from './run.js';
export { evolveIteration } from './iteration.js';
export { iterationProgressQuery } from './control.js';
