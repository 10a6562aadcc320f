import { DefaultLogger, Runtime } from '@temporalio/worker';

/** Worker logs at WARN so the test runner's output stays readable. */
export function quietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    /* already installed by another test file in this process */
  }
}
