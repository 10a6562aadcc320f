import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { bundleWorkflowCode } from '@temporalio/worker';
import { writeJsonlWithManifest } from '../../storage/jsonl-writer.js';
import { arithmeticProblems } from '../../core/arithmetic.js';
import { EndpointSchema } from '../../core/config.js';
import type { Manifest } from '../../core/records.js';
import { watchRun } from '../../client/run.js';
import { createEvolveWorker } from '../../workers/worker.js';
import { startFakeOpenAI, type FakeServer } from '../support/fake-openai.js';
import { quietRuntime } from '../support/quiet.js';
import { restartableDevServer } from '../support/restartable-server.js';
import { until } from '../support/until.js';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
});

const rowsOf = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { promptId: string; chain: number; step: number });

test('a Temporal restart mid-shard: the overlapping attempts pay for no request twice', async () => {
  quietRuntime();
  const temporal = await restartableDevServer();
  cleanup.push(temporal.kill);
  const fake: FakeServer = await startFakeOpenAI({ latencyMs: 200 });
  cleanup.push(fake.close);
  const dir = mkdtempSync(join(tmpdir(), 'evolve-outage-'));
  const prompts: Manifest = await writeJsonlWithManifest(
    join(dir, 'prompts.jsonl'),
    'prompt',
    arithmeticProblems(8, 7, 9),
    { step: 'prompts', runId: 'o', iteration: 1 },
  );
  const scope = (step: string) => ({
    runId: 'o',
    iteration: 1,
    dir: join(dir, step),
    indexes: [join(dir, 'cas')],
  });
  const base = {
    shard: { index: 0, count: 1, prompts, start: 0, end: prompts.rows },
    policy: { endpoint: EndpointSchema.parse({ baseUrl: fake.baseUrl, maxConcurrency: 2 }), model: 'm' },
    params: { samples: 2, temperature: 1, topP: 1, maxTokens: 32, seed: 5 },
  };
  const refinement = { template: 'multi-turn' as const, instruction: 'Check and improve your answer.' };

  const connection = await NativeConnection.connect({ address: temporal.address });
  cleanup.push(() => connection.close());
  const worker = await createEvolveWorker({
    connection,
    taskQueue: 'outage',
    workflowBundle: await bundleWorkflowCode({ workflowsPath: resolve('test/support/shard-workflow.ts') }),
  });
  const client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
  cleanup.push(() => client.connection.close());

  const [answers, refined] = await worker.runUntil(async () => {
    const handle = await client.workflow.start('sampleAndRefineShard', {
      taskQueue: 'outage',
      workflowId: 'outage',
      args: [
        { ...base, scope: scope('sample') },
        { ...base, scope: scope('refine'), chainDepth: 3, refinement },
      ],
    });
    const refineDir = join(dir, 'refine');
    const journalled = () =>
      readdirSync(refineDir)
        .filter((f) => f.endsWith('.journal'))
        .reduce((n, f) => n + readFileSync(join(refineDir, f), 'utf8').split('\n').length - 1, 0);
    const refineRows = (n: number) => () => {
      try {
        return journalled() >= n;
      } catch {
        return false;
      }
    };
    await until('refine to start', refineRows(0));
    // Slow replies, two at a time: refine takes ~24 s, long enough to restart Temporal inside it.
    fake.plan.latencyMs = 1500;
    await until('refine rows in the journal', refineRows(2));
    // Down longer than the 5 s heartbeat timeout: Temporal gives attempt 1 up and starts attempt 2
    // while attempt 1, which never saw the outage, still has requests in flight.
    // `evolve run --wait` watches through the outage.
    const said: string[] = [];
    const watched = watchRun(client, handle as never, 1, (line) => said.push(line));
    await temporal.kill();
    await new Promise((r) => setTimeout(r, 7000));
    await temporal.start();
    const result = (await watched) as unknown as Manifest[];
    return result;
  });

  const history = await client.workflow.getHandle('outage').fetchHistory();
  const attempts = (history.events ?? []).flatMap((e) =>
    e.activityTaskStartedEventAttributes ? [e.activityTaskStartedEventAttributes.attempt ?? 1] : [],
  );
  assert.ok(Math.max(...attempts) >= 2, `a second attempt ran (attempts ${attempts.join(', ')})`);

  const rows = [...rowsOf(answers!.uri), ...rowsOf(refined!.uri)];
  const keys = rows.map((g) => `${g.promptId}/${g.chain}/${g.step}`);
  assert.equal(keys.length, 8 * 2 * 3, 'every (prompt, chain, step) has a row');
  assert.equal(new Set(keys).size, keys.length, 'one row each');
  assert.equal(fake.requests.received.size, 8 * 2 * 3);
  assert.deepEqual(
    [...fake.requests.received.values()].filter((n) => n > 1),
    [],
    'the model server received each request once',
  );
});
