import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import { startRun } from '../../client/run.js';
import type { RunConfig } from '../../core/config.js';
import { demoConfig } from '../support/config.js';
import { useDevServer } from '../support/dev-server.js';
import { holdsKey } from '../support/echo-server.js';
import { startFakeOpenAI, type FakeServer } from '../support/fake-openai.js';
import { temporalCli } from '../support/paths.js';
import { recordingActivities } from '../support/recording-activities.js';
import { demoRun } from '../support/run-fixture.js';

// Issue 29, "one way out for every byte": on the real dev server, each surface a run is read through
// (the history as `temporal workflow show` exports it, `temporal workflow describe`'s search attributes
// and memo, `evolve show`/`list`/`report`/`metrics` output, the report and the artifacts) holds no
// encoding of a key that a server echoed back or that a config carried.
const server = useDevServer();
let fake: FakeServer;
const taskQueue = 'surfaces';
const key = `sk-surface-${randomBytes(12).toString('hex')}`;
before(async () => {
  process.env.EVOLVE_TEST_POLICY_API_KEY = key;
  fake = await startFakeOpenAI({ echoAuthorization: true });
});
after(async () => {
  delete process.env.EVOLVE_TEST_POLICY_API_KEY;
  await fake?.close();
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

function surfacesConfig(runId: string, artifactRoot: string, baseModel?: string): RunConfig {
  const base = demoConfig();
  const endpoint = {
    ...base.policy.endpoint,
    baseUrl: fake.baseUrl,
    apiKeyEnv: 'EVOLVE_TEST_POLICY_API_KEY',
  };
  return {
    ...base,
    runId,
    artifactRoot,
    iterations: 1,
    policy: { ...base.policy, endpoint, ...(baseModel ? { baseModel } : {}) },
    judge: { ...base.judge, llm: { ...base.judge.llm!, endpoint } },
    prompts: [{ kind: 'arithmetic', count: 2, seed: 3, maxOperand: 9 }],
    evaluation: { ...base.evaluation, prompts: { kind: 'arithmetic', count: 2, seed: 9, maxOperand: 9 } },
  };
}

/** Only this test's server: no TEMPORAL_* setting of the caller's shell leaks into a CLI. */
function cliEnv(): NodeJS.ProcessEnv {
  const inherited = Object.entries(process.env).filter(([name]) => !name.startsWith('TEMPORAL_'));
  return {
    ...Object.fromEntries(inherited),
    TEMPORAL_ADDRESS: server.env.address,
    EVOLVE_TASK_QUEUE: taskQueue,
  };
}

/** A command's stdout and stderr together, whatever its exit status. */
async function output(file: string, args: string[]): Promise<string> {
  const done = await promisify(execFile)(file, args, { env: cliEnv(), maxBuffer: 64 << 20 }).catch(
    (err: { stdout?: string; stderr?: string }) => err,
  );
  return `${done.stdout ?? ''}${done.stderr ?? ''}`;
}
const temporal = (...args: string[]) => output(temporalCli, args);
const evolve = (...args: string[]) => output(process.execPath, ['--import', 'tsx', 'client/cli.ts', ...args]);

/**
 * The run to its end on a worker with the real activities (training a stand-in: it sees no endpoint),
 * then `read` while the worker still answers queries (`evolve show` asks the run for its status).
 */
async function runToEnd<T>(config: RunConfig, read: () => Promise<T>): Promise<T> {
  const stand = recordingActivities([]);
  const worker = await Worker.create({
    connection: server.env.nativeConnection,
    taskQueue,
    workflowBundle: server.bundle,
    activities: {
      ...createActivities(),
      submitTraining: stand.submitTraining,
      awaitTraining: stand.awaitTraining,
    },
  });
  const client = new Client({ connection: server.env.connection });
  return worker.runUntil(async () => {
    await (await startRun(client, config, taskQueue)).result();
    return read();
  });
}

/** Each surface's text, by its name, for the assertion messages. */
async function describeSurfaces(runId: string): Promise<Record<string, string>> {
  const ids = [runId, `${runId}/iter-1`];
  const texts: Record<string, string> = {};
  for (const id of ids)
    texts[`temporal workflow describe ${id}`] = await temporal(
      'workflow',
      'describe',
      '--workflow-id',
      id,
      '--output',
      'json',
    );
  texts['evolve show'] = await evolve('show', runId);
  texts['evolve list'] = await evolve('list');
  return texts;
}

function assertClean(texts: Record<string, string>): void {
  for (const [surface, text] of Object.entries(texts))
    assert.ok(!holdsKey(text, key), `a key, in some encoding, is in ${surface}:\n${text.slice(0, 2000)}`);
}

test('a server echoing the key in its completions puts it in no exported history, describe, CLI output, report or artifact', async () => {
  const root = mkdtempSync(join(tmpdir(), 'evolve-surfaces-'));
  const texts = await runToEnd(surfacesConfig('echoed', root), () => describeSurfaces('echoed'));
  assert.ok(fake.requests.authorizations.has(`Bearer ${key}`), 'the key was sent, and echoed');
  const runDir = join(root, 'echoed');
  for (const id of ['echoed', 'echoed/iter-1'])
    texts[`temporal workflow show ${id}`] = await temporal(
      'workflow',
      'show',
      '--workflow-id',
      id,
      '--output',
      'json',
    );
  // The probe's completion (serveCheckpoint's result) quotes the key: the history keeps it, redacted.
  const iteration = texts['temporal workflow show echoed/iter-1']!;
  const payloads = [...iteration.matchAll(/"data":\s*"([^"]+)"/g)].map((m) =>
    Buffer.from(m[1]!, 'base64').toString(),
  );
  assert.ok(
    payloads.some((p) => p.includes('"probe"') && p.includes('you sent Authorization: ')),
    'the echo reached an activity result',
  );
  texts['evolve report'] = await evolve('report', runDir, '--out', join(runDir, 'report'));
  texts['evolve metrics'] = await evolve('metrics', 'gsm8k', runDir, '--json');
  for (const file of filesUnder(root)) texts[file] = readFileSync(file, 'utf8');
  assert.ok(
    Object.keys(texts).some((f) => f.endsWith('report.html')),
    'the report was written',
  );
  assertClean(texts);
});

test('a config carrying the key puts it in no search attribute, memo, `evolve config`, `show` or `list` output', async () => {
  // The config is the user's own input and stays in its history as sent; what the run publishes from it
  // (search attributes are indexed in the clear even under a codec key) passes the redaction.
  const root = mkdtempSync(join(tmpdir(), 'evolve-surfaces-'));
  const config = surfacesConfig('carried', join(root, `k-${key}`), `models/${key}`);
  const file = join(root, 'carried.json');
  writeFileSync(file, JSON.stringify(config));
  const texts = await runToEnd(config, () => describeSurfaces('carried'));
  texts['evolve config'] = await evolve('config', file);
  // Stderr too: an error quoting what it was given.
  texts['evolve show (no such run)'] = await evolve('show', `no-such-${key}`);
  assert.match(texts['evolve show (no such run)'], /no-such-\[redacted\]/);
  assert.match(texts['evolve config'], /"baseModel": "models\/\[redacted\]"/);
  assert.match(texts['temporal workflow describe carried']!, /EvolveBaseModel/);
  assertClean(texts);
});

test('a run directory holding the key (copied from elsewhere, or written before it was in use) gives a report without it', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'evolve-surfaces-')), 'copied');
  cpSync(demoRun, dir, { recursive: true });
  const configFile = join(dir, 'config.json');
  const config = JSON.parse(readFileSync(configFile, 'utf8')) as RunConfig;
  writeFileSync(
    configFile,
    JSON.stringify({ ...config, policy: { ...config.policy, baseModel: `models/${key}` } }),
  );
  const texts: Record<string, string> = { 'evolve report': await evolve('report', dir) };
  const html = join(dir, 'report', 'report.html');
  texts[html] = readFileSync(html, 'utf8');
  assert.match(texts[html], /models\/\[redacted\]/);
  assertClean(texts);
});
