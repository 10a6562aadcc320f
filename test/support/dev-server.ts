import { TestWorkflowEnvironment } from '@temporalio/testing';
import { searchAttributeKeys } from '../../core/search-attributes.js';
import { requireInstalled, temporalCli } from './paths.js';
import { quietRuntime } from './quiet.js';

/** A real Temporal dev server (the CLI's) with evolve's search attributes, for integration tests. */
export function startDevServer(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: requireInstalled(temporalCli) },
      searchAttributes: searchAttributeKeys,
      ui: false,
    },
  });
}
