/**
 * Issue 29: memory is bounded per file, not per row. Each reader of a user-supplied file runs in a child
 * process on a 64 MB heap: on the worst file under its cap (the most, smallest rows or elements) it reads
 * it; on a file over the cap it refuses it with a DataError naming the file and its size; either way the
 * child exits 0. A streamed file has no size cap: rows each just under the row cap all pass through.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { iterationSlice } from '../../core/prompt-slices.js';
import { INPUT_FILE_CAPS, type InputFileKind } from '../../storage/files.js';
import { MAX_ROW_BYTES } from '../../storage/jsonl.js';

const dir = mkdtempSync(join(tmpdir(), 'evolve-input-heap-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `head`, then `item(i)` for i = 0, 1, ... while the file stays under `bytes` with `tail`; its path. */
function write(name: string, bytes: number, head: string, item: (i: number) => string, tail = ''): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  let size = writeSync(fd, head);
  for (let i = 0; ; i++) {
    const next = item(i);
    if (size + Buffer.byteLength(next) + tail.length > bytes) break;
    size += writeSync(fd, next);
  }
  writeSync(fd, tail);
  closeSync(fd);
  return path;
}

/** Runs `call` (an expression over `path` and the readers) on a 64 MB heap: what it read, or its refusal. */
function onSmallHeap(call: string, path: string): string {
  const script = `
    import { readArenaHardAnswers, streamPromptFile } from './storage/benchmarks/loaders.ts';
    import { loadJudgeConfig } from './storage/benchmarks/official-configs.ts';
    import { readArenaHardJudgments, readInstructionDifficulty } from './storage/benchmarks/official-results.ts';
    import { readJsonl } from './storage/jsonl.ts';
    import { PreferenceRowSchema } from './core/records.ts';
    const path = ${JSON.stringify(path)};
    const count = async (rows) => { let n = 0; for await (const _ of rows) n++; return n; };
    await Promise.resolve(${call}).then(
      (read) => console.log('read', Array.isArray(read) ? read.length : typeof read === 'number' ? read : 1),
      (err) => console.log(err.name + ': ' + err.message),
    );`;
  const run = spawnSync(
    process.execPath,
    ['--max-old-space-size=64', '--import', 'tsx', '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  assert.equal(run.status, 0, `the reader died on ${path}:\n${run.stderr.slice(-2000)}`);
  return run.stdout.trim();
}

const judgeConfig = readFileSync('test/fixtures/official-judges/arena-hard/judge_config.yaml', 'utf8');

/** An Arena-Hard baseline answer row (a JSONL file held whole). */
const answer = (i: number, content: string) =>
  `{"uid":"q${i}","model":"m","messages":[{"role":"assistant","content":"${content}"}]}\n`;

/** Each reader, its cap, and the file that costs it the most memory per byte (many small items). */
const readers: [string, InputFileKind, string, (name: string, bytes: number) => string][] = [
  [
    'Arena-Hard baseline answers, small rows',
    'jsonl',
    `readArenaHardAnswers(path)`,
    (name, bytes) => write(name, bytes, '', (i) => answer(i, `${i}`)),
  ],
  [
    'Arena-Hard baseline answers, rows just under the row cap',
    'jsonl',
    `readArenaHardAnswers(path)`,
    (name, bytes) => write(name, bytes, '', (i) => answer(i, 'x'.repeat(MAX_ROW_BYTES - 80))),
  ],
  [
    'AlpacaEval JSON array',
    'json',
    `count(streamPromptFile({ kind: 'file', path, format: 'alpaca-eval' }))`,
    (name, bytes) =>
      write(name, bytes, '[', (i) => `${i ? ',' : ''}\n {"instruction":"Say ${i} things."}`, '\n]'),
  ],
  [
    'Arena-Hard judge_config.yaml',
    'yaml',
    `loadJudgeConfig(path)`,
    (name, bytes) => write(name, bytes, `${judgeConfig}\n`, (i) => `k${i}: [a, b, {c: ${i}}]\n`),
  ],
  [
    'AlpacaEval difficulty CSV',
    'csv',
    `readInstructionDifficulty(path)`,
    (name, bytes) => write(name, bytes, 'index,instruction_difficulty\n', (i) => `${i},0.5\n`),
  ],
  [
    'Arena-Hard judgments',
    'jsonl',
    `readArenaHardJudgments([path], 'gpt-4-0314')`,
    (name, bytes) =>
      write(
        name,
        bytes,
        '',
        (i) => `{"uid":"q${i}","model":"m","games":[{"score":"A>B"},{"score":"B>A"}]}\n`,
      ),
  ],
];

for (const [what, kind, call, make] of readers) {
  const cap = INPUT_FILE_CAPS[kind];
  test(`${what}: read on a 64 MB heap up to its cap (${cap} bytes), refused with its size over it`, () => {
    const near = make(`near.${kind}`, cap);
    assert.match(
      onSmallHeap(call, near),
      /^read [1-9]\d*$/,
      `a legitimate file of ${statSync(near).size} bytes`,
    );
    rmSync(near);
    const over = make(`over.${kind}`, cap + MAX_ROW_BYTES);
    const size = statSync(over).size;
    assert.ok(size > cap);
    assert.equal(
      onSmallHeap(call, over),
      `DataError: ${over}: ${size} bytes, over the ${cap} bytes a ${kind.toUpperCase()} input file may have (it is held in memory)`,
    );
    rmSync(over);
  });
}

test('a streamed file (the stage-0 preference set) has no size cap: rows just under the row cap pass through, a longer one is refused', () => {
  const row = (content: string) =>
    `{"prompt":[{"role":"user","content":"q"}],"chosen":[{"role":"assistant","content":"${content}"}],"rejected":[{"role":"assistant","content":"r"}]}\n`;
  const big = 'x'.repeat(MAX_ROW_BYTES - row('').length);
  const path = write('stage0.jsonl', 5 * MAX_ROW_BYTES, '', () => row(big));
  const streamed = `count(readJsonl(path, PreferenceRowSchema))`;
  assert.equal(
    onSmallHeap(streamed, path),
    'read 5',
    'five rows, each as large as a row may be, on a 64 MB heap',
  );
  const longer = write('stage0-long.jsonl', 2 * MAX_ROW_BYTES + 2, row('ok'), () => row(`${big}xx`));
  assert.equal(
    onSmallHeap(streamed, longer),
    `DataError: ${longer}:2: a row longer than ${MAX_ROW_BYTES} bytes; rows are limited to that`,
  );
});

test('a training prompt file of 100 MB streams on a 64 MB heap into its prompts.jsonl: every row, or the slice of perIteration', () => {
  // The paper's training sets: tens of thousands of prompts of about 1 KB each.
  const text = 'Explain, step by step, '.repeat(44);
  const path = write('train.jsonl', 100 * 2 ** 20, '', (i) => `{"id":"p${i}","prompt":"${text}${i}?"}\n`);
  const rows = readFileSync(path, 'utf8').split('\n').length - 1;
  const load = (name: string, source: object) => {
    const script = `
      import { loadPrompts } from './activities/prompts.ts';
      const scope = { runId: 'r', iteration: 2, dir: ${JSON.stringify(join(dir, name))}, indexes: [] };
      const source = { kind: 'file', path: ${JSON.stringify(path)}, ...${JSON.stringify(source)} };
      const { rows, stats } = await loadPrompts({ scope, sources: [source], seedOffset: 2 });
      console.log(JSON.stringify({ rows, stats }));`;
    const run = spawnSync(
      process.execPath,
      ['--max-old-space-size=64', '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    assert.equal(run.status, 0, `loadPrompts died on ${path}:\n${run.stderr.slice(-2000)}`);
    const ids = readFileSync(join(dir, name, 'prompts.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { id: string }).id);
    return { ...(JSON.parse(run.stdout) as { rows: number; stats: Record<string, number> }), ids };
  };

  const all = load('all', {});
  assert.equal(all.rows, rows);
  assert.deepEqual(
    all.ids,
    Array.from({ length: rows }, (_, i) => `p${i}`),
    'every row, in file order',
  );

  const sliced = load('slice', { perIteration: 1000, seed: 9 });
  const expected = iterationSlice(rows, { perIteration: 1000, seed: 9 }, 2);
  assert.deepEqual(sliced.stats, {
    withAnswer: 0,
    poolSize: rows,
    sliceStart: 1000,
    sliceEnd: 2000,
    sliceSeed: 9,
  });
  assert.deepEqual(
    sliced.ids,
    expected.rows.map((row) => `p${row}`),
    "iteration 2's rows of the seeded shuffle, in its order",
  );
});
