import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before } from 'node:test';
import { promisify } from 'node:util';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { searchAttributeKeys } from '../../core/search-attributes.js';
import { workflowsPath } from '../../workers/worker.js';
import { requireInstalled, temporalCli } from './paths.js';
import { freePort } from './ports.js';
import { reapOnExit } from './processes.js';
import { quietRuntime } from './quiet.js';
import { until } from './until.js';

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

let cliServer: { address: string; env: NodeJS.ProcessEnv; stop: () => void } | undefined;
// Registered at import, so it belongs to the file, not to the test that started the server.
after(() => cliServer?.stop());
/**
 * A bare `temporal server start-dev` (no search attributes, no UI) shared by a test file, for tests
 * that register attributes themselves or start a worker process; stopped when the file ends.
 */
export async function cliDevServer() {
  if (cliServer) return cliServer;
  const port = await freePort();
  const server = spawn(
    requireInstalled(temporalCli),
    [
      'server',
      'start-dev',
      '--headless',
      '--port',
      String(port),
      '--http-port',
      '0',
      '--metrics-port',
      '0',
      '--log-level',
      'error',
    ],
    { stdio: 'ignore' },
  );
  const address = `127.0.0.1:${port}`;
  const env = {
    ...process.env,
    TEMPORAL_ADDRESS: address,
    PATH: `${resolve(temporalCli, '..')}:${process.env.PATH}`,
  };
  cliServer = { address, env, stop: () => server.kill('SIGTERM') };
  await until('the dev server', () =>
    promisify(execFile)(temporalCli, ['operator', 'cluster', 'health'], { env }).then(
      () => true,
      () => false,
    ),
  );
  return cliServer;
}
