import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type Worker } from '@temporalio/worker';
import type { RunConfig } from '../../core/config.js';
import { createEvolveWorker, workflowsPath } from '../../workers/worker.js';
import { tinyConfig } from '../support/config.js';
import { startDevServer } from '../support/dev-server.js';
import { temporalCli } from '../support/paths.js';

// Issue 29: the design's first entry point is `temporal workflow start`. Every registered workflow, started
// through the real `temporal` binary with hostile input, fails with the schema's (or the refusal's)
// message before it writes anything.
let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
const root = mkdtempSync(join(tmpdir(), 'evolve-entry-points-'));
// Port 9 (discard) on loopback: nothing answers, so a run that got past validation would show.
const config = (runId: string): RunConfig => tinyConfig('http://127.0.0.1:9/v1', root, runId);
const claimed = config('claimed');

before(async () => {
  env = await startDevServer();
  worker = await createEvolveWorker({
    connection: env.nativeConnection,
    taskQueue: 'entry',
    workflowBundle: await bundleWorkflowCode({ workflowsPath }),
  });
  running = worker.run();
  // A run that exists: its claimed config is what an outside start must not overwrite.
  mkdirSync(join(root, 'claimed'));
  writeFileSync(join(root, 'claimed', 'config.json'), JSON.stringify(claimed, null, 2) + '\n');
});
after(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
  rmSync(root, { recursive: true, force: true });
});

/** `temporal workflow execute` of `type` with `inputs` (each one argument); the failure it prints. */
async function failureOf(type: string, id: string, ...inputs: unknown[]): Promise<string> {
  const cliEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_'))),
    TEMPORAL_ADDRESS: env.address,
  };
  const args = ['workflow', 'execute', '--type', type, '--task-queue', 'entry', '--workflow-id', id];
  // Bounded: a start that slipped through would otherwise wait on a server that never answers.
  args.push('--execution-timeout', '60s', ...inputs.flatMap((input) => ['--input', JSON.stringify(input)]));
  try {
    const { stdout } = await promisify(execFile)(temporalCli, args, { env: cliEnv });
    return assert.fail(`${type} ${id} was expected to fail:\n${stdout}`);
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    return stdout + stderr;
  }
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

const lan = config('lan');
const cases: [string, string, unknown[], RegExp][] = [
  ['evolveRun', 'no config', [{}], /runId: required: expected string/],
  [
    'evolveRun',
    'key over http to a LAN address',
    [
      {
        ...lan,
        policy: {
          ...lan.policy,
          endpoint: {
            ...lan.policy.endpoint,
            baseUrl: 'http://192.168.1.20:8000/v1',
            apiKeyEnv: 'EVOLVE_TEST_API_KEY',
          },
        },
      },
    ],
    /policy\.endpoint\.baseUrl: the key in EVOLVE_TEST_API_KEY goes only over https/,
  ],
  [
    'evolveRun',
    'run id escaping the root',
    [{ ...config('x'), runId: '../escape' }],
    /runId: lower-case letters/,
  ],
  ['evolveRun', 'iterations 1e308', [{ ...config('big'), iterations: 1e308 }], /iterations: Too big/],
  [
    'evolveRun',
    'amended carry overwriting a claimed config',
    [
      { ...claimed, iterations: 3 },
      { iterations: [], policyModel: '', paused: false, stopRequested: false, amended: true },
    ],
    /its second \(the carry between executions\) is passed only by the run itself, on continue-as-new/,
  ],
  [
    'evolveRun',
    'forged finished iterations',
    [
      config('forged'),
      { iterations: [{ iteration: 5 }], policyModel: '/etc', paused: false, stopRequested: false },
    ],
    /passed only by the run itself, on continue-as-new/,
  ],
  [
    'evolveIteration',
    'an outside start with a LAN endpoint',
    [
      {
        config: { ...lan, policy: { ...lan.policy, endpoint: { baseUrl: 'http://192.168.1.20/v1' } } },
        configHash: 'x',
        iteration: 1,
        policyModel: 'm',
      },
    ],
    /evolveIteration runs only as a child of evolveRun/,
  ],
  [
    'evolveIteration',
    'an iteration number that is a path',
    [{ config: config('path'), configHash: 'x', iteration: '../../../tmp/owned', policyModel: 'm' }],
    /evolveIteration runs only as a child of evolveRun/,
  ],
];

for (const [type, name, inputs, message] of cases) {
  test(`${type} started from the temporal CLI, ${name}: fails with the message and writes nothing`, async () => {
    const id = `hostile-${type}-${name.replace(/[^a-z0-9]+/gi, '-')}`;
    assert.match(await failureOf(type, id, ...inputs), message);
  });
}

test('after every hostile start, the artifact root holds only the claimed config, unchanged', () => {
  assert.deepEqual(filesUnder(root), [join(root, 'claimed', 'config.json')]);
  assert.deepEqual(JSON.parse(readFileSync(join(root, 'claimed', 'config.json'), 'utf8')), claimed);
});
