import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { scratchDir } from '../support/scratch.js';

// The two guards that keep long test and install runs from filling the disk (a CI run once died in
// pip with "No space left on device" after earlier runs had left GBs of checkpoints in /tmp).

// Without NODE_TEST_CONTEXT: the runner sets it in its children, and a nested `node --test` that sees it
// reports to this runner instead of running its files.
const bash = (args: string[], env: Record<string, string> = {}) => {
  const outer = { ...process.env };
  delete outer.NODE_TEST_CONTEXT;
  return spawnSync('bash', args, { encoding: 'utf8', env: { ...outer, ...env } });
};

test('need-disk.sh refuses, naming the directory, what needs the space and how much is free', () => {
  const dir = join(scratchDir('evolve-need-disk-'), 'venv');
  const refused = bash(['deploy/need-disk.sh', dir, '1000000', 'the Python venv (torch)']);
  assert.equal(refused.status, 1);
  assert.match(
    refused.stderr,
    /^the Python venv \(torch\) needs about 1000000 GB free in .*\/venv; [\d.]+ GB are free there/,
  );
  assert.equal(existsSync(dir), false, 'nothing is created');
  assert.equal(bash(['deploy/need-disk.sh', dir, '0', 'nothing']).status, 0);
});

test('run-tests.sh gives the tests a temp dir of their own and removes it when they end, failed or not', () => {
  const dir = scratchDir('evolve-run-tests-');
  const file = join(dir, 'leaves-files.test.mjs');
  const record = join(dir, 'tmpdir.txt');
  writeFileSync(
    file,
    `import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
test('leaves a checkpoint behind', () => {
  const d = mkdtempSync(join(tmpdir(), 'left-'));
  writeFileSync(join(d, 'model.safetensors'), 'x');
  writeFileSync(${JSON.stringify(record)}, tmpdir());
  console.log('# mode ' + (statSync(tmpdir()).mode & 0o7777).toString(8));
  if (process.env.FAIL_IT === '1') throw new Error('failed on purpose');
});
`,
  );
  const scratchOf = () => readFileSync(record, 'utf8');

  const passed = bash(['scripts/run-tests.sh', file]);
  assert.equal(passed.status, 0, passed.stdout + passed.stderr);
  const first = scratchOf();
  assert.match(first, /evolve-tests-/);
  assert.match(
    passed.stdout,
    /# mode 1777/,
    'open to every user like /tmp (PostgreSQL runs as its own user)',
  );
  assert.equal(existsSync(first), false, 'removed after a passing run');

  const failed = bash(['scripts/run-tests.sh', file], { FAIL_IT: '1' });
  assert.notEqual(failed.status, 0, 'the runner keeps the tests exit status');
  assert.equal(existsSync(scratchOf()), false, 'removed after a failing run');

  const kept = bash(['scripts/run-tests.sh', file], { EVOLVE_KEEP_TEST_ARTIFACTS: '1' });
  assert.equal(kept.status, 0);
  const keptDir = scratchOf();
  assert.equal(existsSync(keptDir), true, 'EVOLVE_KEEP_TEST_ARTIFACTS=1 keeps it');
  assert.match(kept.stderr, new RegExp(`kept their temp files in ${keptDir}`));
  rmSync(keptDir, { recursive: true, force: true });
});
