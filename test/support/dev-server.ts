import { after, before } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { searchAttributeKeys } from '../../core/search-attributes.js';
import { workflowsPath } from '../../workers/worker.js';
import { requireInstalled, temporalCli } from './paths.js';
import { reapOnExit } from './processes.js';
import { quietRuntime } from './quiet.js';

/** A real Temporal dev server (the CLI's) with evolve's search attributes, for integration tests. */
export function startDevServer(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  reapOnExit();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: requireInstalled(temporalCli) },
      searchAttributes: searchAttributeKeys,
      ui: false,
    },
  });
}

/** Registers before/after hooks for a dev server (startDevServer) and one workflow bundle. */
export function useDevServer() {
  const state = {} as { env: TestWorkflowEnvironment; bundle: WorkflowBundleWithSourceMap };
  before(async () => {
    state.env = await startDevServer();
    state.bundle = await bundleWorkflowCode({ workflowsPath });
  });
  after(async () => {
    await state.env?.teardown();
  });
  return state;
}
