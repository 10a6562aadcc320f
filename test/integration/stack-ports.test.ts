import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import {
  ownPid,
  stackDown,
  stackSettings,
  stackStatus,
  stackUp,
  type StackSettings,
} from '../../deploy/stack.js';
import { startDevServer } from '../support/dev-server.js';
import { startFakeVllm } from '../support/fake-vllm.js';
import { freePort, occupyPorts } from '../support/ports.js';
import { descendants, reapOnExit } from '../support/processes.js';

// `evolve up` adopts a service only when it is the stack's own process (pid file, command line, the
// listening socket); a stranger on a port, even one that answers like the service, is refused with
// the port and the variable that moves it. All ports come from the OS.
async function stackEnv(t: { after(fn: () => unknown): void }) {
  reapOnExit();
  const stateDir = mkdtempSync(join(tmpdir(), 'evolve-stack-ports-'));
  const env = {
    EVOLVE_STATE_DIR: stateDir,
    EVOLVE_TEMPORAL_PORT: String(await freePort()),
    EVOLVE_UI_PORT: String(await freePort()),
    EVOLVE_MODEL_PORT: String(await freePort()),
  };
  const settings: StackSettings = { ...stackSettings(env), taskQueue: 'stack-ports' };
  t.after(async () => {
    await stackDown(settings, () => {});
    rmSync(stateDir, { recursive: true, force: true });
  });
  return { env, settings, stateDir };
}

const refusal = async (settings: StackSettings) => {
  const lines: string[] = [];
  const err = await stackUp(settings, (l) => lines.push(l)).then(
    () => assert.fail(`stackUp adopted a stranger:\n${lines.join('\n')}`),
    (e: Error) => e,
  );
  return { message: err.message, lines };
};

test('evolve up refuses a Temporal server that is not its own, also when a pid file names it', async (t) => {
  const { env, stateDir } = await stackEnv(t);
  const stranger = await startDevServer();
  t.after(() => stranger.teardown());
  const port = stranger.address.split(':').at(-1)!;
  const up = async () => {
    const cli = promisify(execFile)(process.execPath, ['--import', 'tsx', 'client/cli.ts', 'up'], {
      env: { ...process.env, ...env, EVOLVE_TEMPORAL_PORT: port },
    });
    const failed = await cli.then(
      () => assert.fail('evolve up succeeded on a stranger'),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(failed.code, 1);
    return failed.stderr.trim();
  };

  const message = await up();
  assert.match(
    message,
    new RegExp(`^temporal: port ${port} is in use by a process that is not this stack's`),
  );
  assert.match(message, /no .*temporal\.pid; it answers like a temporal server/);
  assert.match(message, /move the stack with EVOLVE_TEMPORAL_PORT=<free port>/);
  assert.doesNotMatch(message, /\n\s+at /, 'no stack trace');
  assert.equal(existsSync(join(stateDir, 'run')), false, 'nothing was started');

  // A pid file naming the stranger's live process (another program's command line) adopts nothing.
  const strangerPid = descendants(process.pid).find((p) => p.cmdline.includes(`--port ${port} `))!.pid;
  mkdirSync(join(stateDir, 'run'));
  writeFileSync(join(stateDir, 'run', 'temporal.pid'), String(strangerPid));
  assert.match(
    await up(),
    new RegExp(`temporal.pid names pid ${strangerPid}, which is not a running temporal`),
  );
  assert.equal(existsSync(join(stateDir, 'run', 'worker.pid')), false, 'nothing was started');
});

test('evolve up refuses a plain listener on the UI port before starting anything', async (t) => {
  const { settings, stateDir } = await stackEnv(t);
  const stranger = await occupyPorts([settings.uiPort]);
  t.after(() => stranger.release());
  const { message } = await refusal(settings);
  assert.match(message, new RegExp(`^temporal: port ${settings.uiPort} is in use`));
  assert.match(message, /EVOLVE_UI_PORT=<free port>/);
  assert.doesNotMatch(message, /answers like/);
  assert.equal(existsSync(join(stateDir, 'run')), false, 'nothing was started');
});

test('evolve up adopts its own Temporal server and refuses a model server that is not its own', async (t) => {
  const model = await startFakeVllm({ model: 'base' });
  t.after(() => model.close());
  const { settings } = await stackEnv(t);
  const own = { ...settings, modelPort: Number(new URL(model.baseUrl).port) };

  const first = await refusal(own);
  assert.match(first.lines.join('\n'), /^temporal: up \(/m, 'its own Temporal server started');
  assert.match(first.message, new RegExp(`^model: port ${own.modelPort} is in use`));
  assert.match(first.message, /answers like a model server.*EVOLVE_MODEL_PORT=<free port>/);
  const temporalPid = ownPid(own, 'temporal');
  assert.ok(temporalPid);

  const status = await stackStatus(own);
  assert.equal(status.temporal?.ok, true, status.temporal?.detail);
  assert.equal(status.model?.ok, false, 'a stranger answering on the model port is not the stack up');
  assert.match(status.model!.detail, /not this stack's .*EVOLVE_MODEL_PORT/);

  // Run again: the stack's own Temporal server (same pid) is adopted; the stranger still is not.
  const second = await refusal(own);
  assert.match(second.lines.join('\n'), new RegExp(`^temporal: already up \\(pid ${temporalPid}, `, 'm'));
  assert.match(second.message, /^model: port/);
});
