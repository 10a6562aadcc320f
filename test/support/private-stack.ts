import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { stackDown, stackSettings, stackUp, type StackSettings } from '../../deploy/stack.js';
import { freePort } from './ports.js';
import { reapOnExit } from './processes.js';

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

/** A private stack for one test file: up before its tests, down after them. */
export async function usePrivateStack(
  name: string,
  taskQueue: string,
  log: (line: string) => void,
): Promise<StackSettings> {
  const settings = await privateStack(name, taskQueue);
  before(async () => {
    reapOnExit();
    await stackUp(settings, log);
  });
  after(async () => {
    await stackDown(settings, log);
  });
  return settings;
}
