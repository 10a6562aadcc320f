import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bundleWorkflowsApart } from '../../workers/bundle.js';

test('workflows/ is bundled in a child process: the code holds every exported workflow', async () => {
  const { code } = await bundleWorkflowsApart();
  for (const name of ['evolveRun', 'evolveIteration']) assert.match(code, new RegExp(`\\b${name}\\b`));
  // The bundle is loaded by the worker's workflow sandbox, which looks up the module by this global.
  assert.match(code, /__TEMPORAL__/);
});
