/**
 * The CLI explains itself: every verb answers --help and -h with its own usage, options and an
 * example; an unknown verb or flag is named in evolve's words with the usage, exit 2. The walk runs
 * in-process (readCommandLine, what client/cli.ts runs first); the spawned rows check the real exit
 * codes and streams.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { readCommandLine } from '../../client/args.js';
import { VERBS } from '../../client/verbs.js';

const verbs = Object.keys(VERBS);
// What node's parseArgs says of itself; none of it may reach a user.
const internals = /positional argument|ERR_PARSE_ARGS|parseArgs|TypeError|\n\s+at /;

test(`every verb (${verbs.length}) answers --help and -h with its usage, options and an example`, () => {
  for (const verb of verbs) {
    for (const flag of ['--help', '-h']) {
      const line = readCommandLine([verb, flag]);
      assert.ok('exit' in line && line.exit === 0, `${verb} ${flag} did not answer with help`);
      assert.match(line.text, new RegExp(`^usage: evolve ${verb}\\b`), `${verb} ${flag}`);
      assert.match(line.text, /\noptions:\n(.|\n)*-h, --help/, `${verb} ${flag}: no options`);
      assert.match(line.text, new RegExp(`\\nexample:\\n .*(evolve -- ${verb}|npm run ${verb})\\b`), verb);
      for (const name of Object.keys(VERBS[verb as keyof typeof VERBS].flags))
        assert.match(line.text, new RegExp(`--${name}\\b`), `${verb} --help does not explain --${name}`);
    }
    assert.deepEqual(readCommandLine(['help', verb]), readCommandLine([verb, '--help']));
  }
});

test('every verb refuses an unknown flag, a missing value and a value given to a switch, naming them', () => {
  for (const verb of verbs) {
    const line = readCommandLine([verb, '--frobnicate']);
    assert.ok('exit' in line && line.exit === 2, `${verb} --frobnicate was accepted`);
    assert.match(
      line.text,
      new RegExp(`^evolve ${verb}: unknown option --frobnicate\\n\\nusage: evolve ${verb}\\b`),
    );
    assert.doesNotMatch(line.text, internals);
  }
  const missing = readCommandLine(['run', 'config.yaml', '--run-id']);
  assert.ok('exit' in missing && missing.exit === 2);
  assert.match(missing.text, /^evolve run: --run-id needs a value\n/);
  const valued = readCommandLine(['run', 'config.yaml', '--wait=yes']);
  assert.ok('exit' in valued && valued.exit === 2);
  assert.match(valued.text, /^evolve run: --wait takes no value\n/);
  // After `--` a dash is an argument, not a flag.
  assert.deepEqual(readCommandLine(['show', '--', '-odd']), {
    verb: 'show',
    rest: ['--', '-odd'],
    positionals: ['-odd'],
  });
});

test('an unknown verb is named, with the list of verbs', () => {
  for (const argv of [['frobnicate'], ['help', 'frobnicate']]) {
    const line = readCommandLine(argv);
    assert.ok('exit' in line && line.exit === 2);
    assert.match(line.text, /^evolve: there is no command "frobnicate"\n/);
    for (const verb of verbs) assert.match(line.text, new RegExp(`\\n  evolve ${verb}\\b`));
  }
});

const cli = (args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', 'client/cli.ts', ...args], {
    env: { ...process.env, EVOLVE_TEMPORAL_PORT: '1' },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );

test('spawned: help on stdout with exit 0; a refused flag or a missing argument on stderr with exit 2', async () => {
  const help = await cli(['report', '-h']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: evolve report <run>/);
  for (const [args, problem] of [
    [['up', '--bogus'], 'evolve up: unknown option --bogus'],
    [['export'], 'evolve export: which run? name its id or directory'],
    [['experiment', 'frob'], 'evolve experiment: micro or render, not "frob"'],
  ] as const) {
    const refused = await cli([...args]);
    assert.equal(refused.code, 2, `${args.join(' ')}: exit ${refused.code}`);
    assert.equal(refused.stdout, '');
    assert.ok(refused.stderr.startsWith(`${problem}\n\nusage: evolve ${args[0]}`), refused.stderr);
    assert.doesNotMatch(refused.stderr, internals);
  }
});
