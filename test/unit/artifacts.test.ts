import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { DataError } from '../../storage/files.js';
import { Journal } from '../../storage/journal.js';
import { readManifestSlice, readManifest } from '../../storage/manifests.js';
import { readAll } from '../../storage/jsonl.js';
import { writeJsonlWithManifest, writingJsonl } from '../../storage/jsonl-writer.js';
import { PromptRecordSchema } from '../../core/records.js';

const dir = () => mkdtempSync(join(tmpdir(), 'evolve-artifacts-'));

test('a manifest describes exactly the bytes written, and no temp file is left', async () => {
  const d = dir();
  const rows = [
    { id: 'a', prompt: 'x' },
    { id: 'b', prompt: 'y', answer: '2' },
  ];
  const m = await writeJsonlWithManifest(join(d, 'p.jsonl'), 'prompt', rows, {
    step: 'prompts',
    runId: 'r',
    iteration: 1,
  });
  const bytes = readFileSync(join(d, 'p.jsonl'));
  assert.equal(m.rows, 2);
  assert.equal(m.bytes, bytes.length);
  assert.equal(m.sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.deepEqual(await readManifest(join(d, 'p.jsonl')), m);
  assert.deepEqual(readdirSync(d).sort(), ['p.jsonl', 'p.jsonl.manifest.json']);
  assert.deepEqual(await readAll(join(d, 'p.jsonl'), PromptRecordSchema), rows);
});

test('bad rows are reported with file and line', async () => {
  const path = join(dir(), 'bad.jsonl');
  writeFileSync(path, '{"id":"a","prompt":"x"}\n{"id":"b"}\n');
  await assert.rejects(readAll(path, PromptRecordSchema), (err: unknown) => {
    assert.ok(err instanceof DataError);
    assert.match(err.message, /bad\.jsonl:2 is invalid:\n {2}prompt: required: expected string/);
    return true;
  });
  writeFileSync(path, '{"id":"a","prompt":"x"}\nnot json\n');
  await assert.rejects(readAll(path, PromptRecordSchema), /bad\.jsonl:2: not valid JSON/);
});

test('a journal reopened after a crash keeps complete rows, drops a torn tail and never duplicates', async () => {
  const path = join(dir(), 'j.journal');
  const schema = z.object({ k: z.string(), v: z.number() });
  const first = await Journal.open(path, schema, (r) => r.k);
  await first.append({ k: 'a', v: 1 });
  await first.append({ k: 'b', v: 2 });
  await first.close();
  appendFileSync(path, '{"k":"c","v":'); // the process died mid-write
  const second = await Journal.open(path, schema, (r) => r.k);
  assert.deepEqual(
    second.summaries().map((r) => r.k),
    ['a', 'b'],
  );
  assert.deepEqual(await second.read('b'), { k: 'b', v: 2 }, 'a row is read back from the file');
  assert.equal(await second.read('c'), undefined);
  await second.append({ k: 'b', v: 99 }); // a replayed request must not add a second row
  await second.append({ k: 'c', v: 3 });
  await second.close();
  const lines = readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { k: string });
  assert.deepEqual(
    lines.map((l) => l.k),
    ['a', 'b', 'c'],
  );
});

test('concurrent journal appends share writes, and each resolves only once its row is in the file', async () => {
  const path = join(dir(), 'j.journal');
  const schema = z.object({ k: z.string(), v: z.number() });
  const journal = await Journal.open(path, schema, (r) => r.k);
  const keys = Array.from({ length: 200 }, (_, i) => `r${i}`);
  await Promise.all(
    keys.map(async (k, v) => {
      await journal.append({ k, v });
      assert.ok(readFileSync(path, 'utf8').includes(`"k":"${k}"`), `${k} is written when append resolves`);
    }),
  );
  await journal.close();
  const written = readFileSync(path, 'utf8').trim().split('\n');
  assert.deepEqual(written.map((l) => (JSON.parse(l) as { k: string }).k).sort(), [...keys].sort());
});

test('a journal keeps only summaries in memory and copies its rows in order, across a reopening', async () => {
  const d = dir();
  const path = join(d, 'j.journal');
  const schema = z.object({ k: z.string(), n: z.number(), text: z.string() });
  const summarise = (r: z.infer<typeof schema>) => ({ n: r.n });
  const row = (n: number) => ({ k: `r${n}`, n, text: `é${'x'.repeat(n * 37)}` }); // multi-byte, varied lengths
  const order = [7, 2, 1300, 5, 0, 999, 3];
  const first = await Journal.open(path, schema, (r) => r.k, summarise);
  await Promise.all(order.slice(0, 4).map((n) => first.append(row(n))));
  await first.close();
  const second = await Journal.open(path, schema, (r) => r.k, summarise);
  for (const n of order.slice(4)) await second.append(row(n));
  assert.deepEqual(
    second.summaries(),
    order.map((n) => ({ n })),
  );
  assert.deepEqual(await second.read('r1300'), row(1300), 'a reopened row reads back whole');
  const m = await writingJsonl({ out: join(d, 'out.jsonl') }, async ({ out }) => {
    await second.copyTo(out, (a, b) => a.n - b.n);
    return out.finish('prompt', { step: 's', runId: 'r', iteration: 1 });
  });
  await second.close();
  const bytes = readFileSync(join(d, 'out.jsonl'));
  const sorted = [...order].sort((a, b) => a - b);
  assert.equal(bytes.toString(), sorted.map((n) => JSON.stringify(row(n)) + '\n').join(''));
  assert.equal(m.rows, order.length);
  assert.equal(m.bytes, bytes.length);
  assert.equal(m.sha256, createHash('sha256').update(bytes).digest('hex'));
});

test('a shard reads only its slice of a manifest, with file and line in errors', async () => {
  const rows = Array.from({ length: 10 }, (_, i) => ({ id: `p${i}`, prompt: `q${i}` }));
  const manifest = await writeJsonlWithManifest(join(dir(), 'p.jsonl'), 'prompt', rows, {
    step: 'prompts',
    runId: 'r',
    iteration: 1,
  });
  assert.deepEqual(await readManifestSlice(manifest, 'prompt', 3, 6), rows.slice(3, 6));
  assert.deepEqual(await readManifestSlice(manifest, 'prompt', 8, 20), rows.slice(8));
  const broken = { ...manifest, sha256: 'f'.repeat(64), uri: join(dir(), 'q.jsonl') };
  writeFileSync(
    broken.uri,
    rows.map((r, i) => (i === 4 ? '{"id":"p4"}' : JSON.stringify(r))).join('\n') + '\n',
  );
  await assert.rejects(
    readManifestSlice(broken, 'prompt', 4, 5),
    /q\.jsonl:5 is invalid:\n {2}prompt: required/,
  );
});

// What the review found: one 50 MB prompt row took the worker's heap (256 MB) with it on every retry. The
// row limit is counted as bytes arrive, so a streaming reader on a 64 MB heap (a file with no size cap, as
// the stage-0 set and the artifacts are) refuses a row as large as that heap, naming the line.
test('a row as large as the heap is refused with file:line, not read into memory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'evolve-huge-row-'));
  const path = join(dir, 'prompts.jsonl');
  writeFileSync(path, '{"id":"a","prompt":"p"}\n');
  const chunk = 'x'.repeat(2 ** 20);
  appendFileSync(path, '{"id":"b","prompt":"');
  for (let i = 0; i < 63; i++) appendFileSync(path, chunk); // 63 MiB
  appendFileSync(path, '"}\n');
  const reader = `import { readAll } from './storage/jsonl.ts';
    import { PromptRecordSchema } from './core/records.ts';
    await readAll(${JSON.stringify(path)}, PromptRecordSchema).catch((err) => console.log(err.message));`;
  const run = spawnSync(
    process.execPath,
    ['--max-old-space-size=64', '--import', 'tsx', '--input-type=module', '-e', reader],
    { encoding: 'utf8' },
  );
  rmSync(dir, { recursive: true, force: true });
  assert.equal(run.status, 0, run.stderr.slice(-2000));
  assert.match(run.stdout, /prompts\.jsonl:2: a row longer than 8388608 bytes/);
});
