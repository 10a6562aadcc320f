import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkModel, modelBaseUrl, stackSettings, startService, stopService } from '../../deploy/stack.js';
import { baseModel, requireInstalled } from './paths.js';
import { freePort } from './ports.js';
import { reapOnExit } from './processes.js';

/** The embedded model server (`transformers serve`, SmolLM2 on CPU, one thread) on a free port. */
export async function startModelServer(timeoutMs = 180_000) {
  requireInstalled(baseModel);
  reapOnExit();
  const settings = {
    ...stackSettings({ ...process.env, EVOLVE_MODEL_PORT: String(await freePort()) }),
    stateDir: mkdtempSync(join(tmpdir(), 'evolve-model-')),
  };
  startService(settings, 'model');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const health = await checkModel(settings);
    if (health.ok) break;
    if (Date.now() > deadline) {
      await stopService(settings, 'model');
      throw new Error(`transformers serve did not come up: ${health.detail}`);
    }
    await sleep(500);
  }
  return { baseUrl: modelBaseUrl(settings), model: baseModel, stop: () => stopService(settings, 'model') };
}
