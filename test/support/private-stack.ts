import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stackSettings, type StackSettings } from '../../deploy/stack.js';
import { freePort } from './ports.js';

/**
 * Settings of an embedded stack of a test's own: ports from the OS, a fresh state directory and the
 * task queue `taskQueue`, so that it never adopts, or collides with, another stack on this machine.
 */
export async function privateStack(name: string, taskQueue: string): Promise<StackSettings> {
  return {
    ...stackSettings({
      ...process.env,
      EVOLVE_TEMPORAL_PORT: String(await freePort()),
      EVOLVE_UI_PORT: String(await freePort()),
      EVOLVE_MODEL_PORT: String(await freePort()),
    }),
    stateDir: mkdtempSync(join(tmpdir(), `evolve-${name}-state-`)),
    taskQueue,
  };
}
