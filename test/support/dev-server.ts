import { after, before } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { searchAttributeKeys } from '../../core/search-attributes.js';
import { workflowsPath } from '../../workers/worker.js';
import { requireInstalled, temporalCli } from './paths.js';
import { quietRuntime } from './quiet.js';

/** Registers before/after hooks for a real Temporal dev server with evolve's search attributes and one workflow bundle. */
export function useDevServer() {
  const state = {} as { env: TestWorkflowEnvironment; bundle: WorkflowBundleWithSourceMap };
  before(async () => {
    quietRuntime();
    state.env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: requireInstalled(temporalCli) },
        searchAttributes: searchAttributeKeys,
        ui: false,
      },
    });
    state.bundle = await bundleWorkflowCode({ workflowsPath });
  });
  after(async () => {
    await state.env?.teardown();
  });
  return state;
}
