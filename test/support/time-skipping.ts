import { after, before } from 'node:test';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  Worker,
  type WorkerOptions,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { Activities } from '../../activities/index.js';
import { workflowsPath } from '../../workers/worker.js';
import { registerSearchAttributes, requireInstalled, testServer } from './paths.js';
import { reapOnExit } from './processes.js';
import { quietRuntime } from './quiet.js';

/**
 * Registers before/after hooks for a time-skipping test server with evolve's search attributes and
 * one workflow bundle; `worker()` makes a worker for the given activities on that server.
 */
export function useTimeSkippingServer() {
  const state = {} as { env: TestWorkflowEnvironment; bundle: WorkflowBundleWithSourceMap };
  before(async () => {
    quietRuntime();
    reapOnExit();
    state.env = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: requireInstalled(testServer) } },
    });
    await registerSearchAttributes(state.env.connection);
    state.bundle = await bundleWorkflowCode({ workflowsPath });
  });
  after(async () => {
    await state.env?.teardown();
  });
  return {
    get env() {
      return state.env;
    },
    worker: (taskQueue: string, activities: Activities, options: Partial<WorkerOptions> = {}) =>
      Worker.create({
        connection: state.env.nativeConnection,
        taskQueue,
        workflowBundle: state.bundle,
        activities,
        ...options,
      }),
  };
}
