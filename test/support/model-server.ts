import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ModelEngine,
  alive,
  checkModel,
  logPath,
  modelBaseUrl,
  stackSettings,
  startService,
  stopService,
} from '../../deploy/stack.js';
import { baseModel, requireInstalled } from './paths.js';
import { freePort } from './ports.js';
import { reapOnExit } from './processes.js';

/**
 * The embedded model server on a free port, SmolLM2 on CPU, one thread: `transformers serve`, or vLLM
 * (deploy/vllm.sh; its first start compiles for minutes, later ones load the compile cache).
 */
export async function startModelServer(engine: ModelEngine = 'transformers', timeoutMs = 180_000) {
  requireInstalled(baseModel);
  reapOnExit();
  const settings = {
    ...stackSettings({
      ...process.env,
      EVOLVE_MODEL_PORT: String(await freePort()),
      EVOLVE_MODEL_ENGINE: engine,
    }),
    stateDir: mkdtempSync(join(tmpdir(), 'evolve-model-')),
  };
  const pid = startService(settings, 'model');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const health = await checkModel(settings);
    if (health.ok) break;
    if (!alive(pid)) throw new Error(`${engine} model server exited: see ${logPath(settings, 'model')}`);
    if (Date.now() > deadline) {
      await stopService(settings, 'model');
      throw new Error(`${engine} model server did not come up: ${health.detail}`);
    }
    await sleep(500);
  }
  return { baseUrl: modelBaseUrl(settings), model: baseModel, stop: () => stopService(settings, 'model') };
}
