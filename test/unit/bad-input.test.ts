/**
 * The bad-input table: every row is an input a careless user or a hostile one could give, and the
 * refusal it must get: a ConfigError/DataError (exit code 2 at the CLI) whose message names the key
 * path, or the file and line. Rows run in-process except the few CLI rows, which spawn `evolve`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';

import { promisify } from 'node:util';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { DataError } from '../../storage/files.js';

import { ConfigError } from '../../core/config.js';

import { file, withAt } from '../support/bad-input.js';
import { rows as configRows } from '../support/bad-input-config.js';
import { rows as dataRows } from '../support/bad-input-data.js';
import { rows as temporalRows } from '../support/bad-input-temporal.js';

const rows = [...configRows, ...dataRows, ...temporalRows];

// ---- CLI (spawned: exit code and message) ----
const cli = (args: string[], env: Record<string, string> = {}) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', 'client/cli.ts', ...args], {
    env: { ...process.env, EVOLVE_TEMPORAL_PORT: '1', ...env },
  }).then(
    () => ({ code: 0, stderr: '' }),
    (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
  );
const cliRows: [string, string[], RegExp][] = [
  [
    'run --run-id with capitals',
    ['run', 'deploy/demo/config.yaml', '--run-id', 'Bad Id'],
    /^--run-id Bad Id: lower-case/m,
  ],
  [
    'run --resume-from with a slash',
    ['run', 'deploy/demo/config.yaml', '--resume-from', '../x'],
    /^--resume-from \.\.\/x: lower-case/m,
  ],
  [
    'config naming the codec key',
    ['config', file(stringify(withAt('policy.endpoint.apiKeyEnv', 'EVOLVE_CODEC_KEY')))],
    /policy\.endpoint\.apiKeyEnv \(.*:\d+\): EVOLVE_CODEC_KEY holds/,
  ],
  ['codec-server without a token', ['codec-server', '--port', '0'], /EVOLVE_CODEC_TOKEN is not set/],
  [
    'config naming a malformed stage-0 preference set',
    ['config', file(stringify(withAt('trainer.sft.dataset', file('{oops\n', 'jsonl'))))],
    /^ {2}trainer\.sft\.dataset: .*input-\d+\.jsonl:1: not valid JSON/m,
  ],
];

test(`bad-input table: ${rows.length + cliRows.length} inputs, each refused with what to fix`, async () => {
  const summary: Record<string, { cases: number; refused: number; named: number }> = {};
  const failures: string[] = [];
  const byName: Record<string, number> = {};
  for (const row of rows) byName[row.names] = (byName[row.names] ?? 0) + 1;
  byName['spawned evolve, exit 2'] = cliRows.length;
  for (const row of rows) {
    const s = (summary[row.area] ??= { cases: 0, refused: 0, named: 0 });
    s.cases++;
    let error: unknown;
    try {
      await row.run();
    } catch (err) {
      error = err;
    }
    const refused = error instanceof ConfigError || error instanceof DataError;
    if (refused) s.refused++;
    const message = error instanceof Error ? error.message : String(error);
    if (refused && row.expect.test(message)) s.named++;
    else failures.push(`${row.area}: ${row.input}\n    got: ${message.slice(0, 300)}`);
  }
  summary.cli ??= { cases: 0, refused: 0, named: 0 };
  for (const [input, args, expect] of cliRows) {
    const s = summary.cli;
    s.cases++;
    const env: Record<string, string> = input.includes('codec-server')
      ? { EVOLVE_CODEC_KEY: Buffer.alloc(32, 1).toString('base64'), EVOLVE_CODEC_TOKEN: '' }
      : { EVOLVE_SECRET_ENV: 'EVOLVE_CODEC_KEY' };
    const { code, stderr } = await cli(args, env);
    if (code === 2) s.refused++;
    if (code === 2 && expect.test(stderr) && !/\n\s+at /.test(stderr)) s.named++;
    else failures.push(`cli: ${input}\n    exit ${code}: ${stderr.slice(0, 300)}`);
  }
  const total = Object.values(summary).reduce(
    (t, s) => ({ cases: t.cases + s.cases, refused: t.refused + s.refused, named: t.named + s.named }),
    { cases: 0, refused: 0, named: 0 },
  );
  console.log(
    [
      'area | cases | refused | names what to fix',
      ...Object.entries({ ...summary, total }).map(
        ([a, s]) => `${a} | ${s.cases} | ${s.refused} | ${s.named}`,
      ),
    ].join('\n'),
  );
  console.log(`what each refusal names: ${JSON.stringify(byName)}`);
  assert.deepEqual(failures, []);
  assert.ok(total.cases >= 100, `${total.cases} cases`);
});
