import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { descendants, reapOnExit, stillRuns } from '../support/processes.js';
import { until } from '../support/until.js';

// A test runner interrupted in the middle of the e2e test, while `evolve up` brings the stack up,
// leaves none of the processes it started behind: not the stack's detached services (Temporal dev
// server, model server), not its test file process.
async function interruptMidStack(t: { after(fn: () => unknown): void }, how: 'SIGTERM' | 'Ctrl-C') {
  reapOnExit();
  const runner = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-reporter=tap', 'test/e2e/demo.test.ts'],
    // Without NODE_TEST_CONTEXT, which would make it a subtest of this run that runs no files.
    {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_TEST_CONTEXT: undefined },
    },
  );
  let output = '';
  runner.stdout.on('data', (c: Buffer) => (output += c.toString()));
  runner.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = once(runner, 'exit');
  let started = descendants(runner.pid!);
  const running = (marker: string) => started.some((p) => p.cmdline.includes(marker));
  t.after(() => {
    // Whatever outlived the interruption (a failure below) is not left to the next run.
    for (const p of started.filter(stillRuns)) process.kill(p.pgid === p.pid ? -p.pid : p.pid, 'SIGKILL');
  });

  await until(
    'the e2e test to start the stack (Temporal, then the model server)',
    () => {
      started = descendants(runner.pid!);
      return running('temporal server start-dev') && running('bin/transformers serve');
    },
    300_000,
  ).catch((err: Error) => assert.fail(`${err.message}; runner output:\n${output}`));

  // SIGTERM reaches the runner alone (`kill`); Ctrl-C reaches the terminal's process group.
  process.kill(how === 'SIGTERM' ? runner.pid! : -runner.pid!, how === 'SIGTERM' ? 'SIGTERM' : 'SIGINT');
  await exited;
  await until(
    'every process the interrupted run started to end',
    () => !started.some(stillRuns),
    60_000,
  ).catch(() =>
    assert.fail(
      `still running after the runner ended:\n${started
        .filter(stillRuns)
        .map((p) => `${p.pid} ${p.cmdline}`)
        .join('\n')}\nrunner output:\n${output}`,
    ),
  );
}

test('SIGTERM of the test runner mid-e2e leaves no stack process running', (t) =>
  interruptMidStack(t, 'SIGTERM'));
test('Ctrl-C of the test run mid-e2e leaves no stack process running', (t) => interruptMidStack(t, 'Ctrl-C'));
