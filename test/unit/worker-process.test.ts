import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { bundleWorkflowsApart } from '../../workers/bundle.js';
import { workerHeapFlags } from '../../core/worker-heap.js';

test('workflows/ is bundled in a child process: the code holds every exported workflow', async () => {
  const { code } = await bundleWorkflowsApart();
  for (const name of ['evolveRun', 'evolveIteration']) assert.match(code, new RegExp(`\\b${name}\\b`));
  // The bundle is loaded by the worker's workflow sandbox, which looks up the module by this global.
  assert.match(code, /__TEMPORAL__/);
});

test('the worker heap cap: 256 MB by default, EVOLVE_WORKER_HEAP_MB overrides it, a bad value is named', () => {
  assert.deepEqual(workerHeapFlags({}), ['--max-old-space-size=256']);
  assert.deepEqual(workerHeapFlags({ EVOLVE_WORKER_HEAP_MB: '1024' }), ['--max-old-space-size=1024']);
  assert.throws(() => workerHeapFlags({ EVOLVE_WORKER_HEAP_MB: '1g' }), /EVOLVE_WORKER_HEAP_MB: .*"1g"/);
  // A node process started with the flags really has the smaller heap (uncapped it is sized from RAM).
  const limitMb = (flags: string[]) =>
    Number(
      execFileSync(process.execPath, [...flags, '-p', 'v8.getHeapStatistics().heap_size_limit'], {
        encoding: 'utf8',
      }),
    ) /
    2 ** 20;
  const capped = limitMb(workerHeapFlags({}));
  assert.ok(capped >= 256 && capped < 320, `heap limit ${capped} MB`);
  assert.ok(limitMb(workerHeapFlags({ EVOLVE_WORKER_HEAP_MB: '1024' })) > capped + 700);
});

test('a worker whose live heap nears its cap says which setting to raise', () => {
  const heap = new URL('../../workers/heap.ts', import.meta.url).href;
  const script = `
    const { warnNearHeapLimit } = await import(${JSON.stringify(heap)});
    warnNearHeapLimit((m) => console.log(m));
    const { getHeapStatistics } = await import('node:v8');
    const kept = [];
    while (process.memoryUsage().heapUsed < 0.8 * getHeapStatistics().heap_size_limit)
      kept.push(new Array(2 ** 16).fill(kept.length));
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 100));
    console.log('kept', kept.length > 0);`;
  const out = execFileSync(
    process.execPath,
    ['--max-old-space-size=400', '--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  assert.match(out, /live heap \d+ MB of a \d+ MB cap: raise EVOLVE_WORKER_HEAP_MB/);
  assert.match(out, /kept true/);
});
