/**
 * The bad-input table: every row is an input a careless user or a hostile one could give, and the
 * refusal it must get: a ConfigError/DataError (exit code 2 at the CLI) whose message names the key
 * path, or the file and line. Rows run in-process except the few CLI rows, which spawn `evolve`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { DataError } from '../../storage/files.js';
import { MAX_ROW_BYTES } from '../../storage/jsonl.js';
import { readArenaHardAnswers, readPromptFile } from '../../storage/benchmarks/loaders.js';
import {
  readAlpacaAnnotations,
  readArenaHardJudgments,
  readInstructionDifficulty,
} from '../../storage/benchmarks/official-results.js';
import { capRetryAfter, MAX_RETRY_AFTER_MS, retryAfterMs } from '../../activities/inference.js';
import { loadConfigFile, loadPatchFile, setPath } from '../../client/config-file.js';
import { applyConfigUpdate, ConfigError, type PromptFileFormat } from '../../core/config.js';
import { demoConfig } from '../support/config.js';

const dir = mkdtempSync(join(tmpdir(), 'evolve-bad-input-'));
let n = 0;
const file = (content: string | Buffer, ext = 'yaml') => {
  const path = join(dir, `input-${++n}.${ext}`);
  writeFileSync(path, content);
  return path;
};
const good = demoConfig();
type Json = Record<string, unknown>;
/** The demo config with `patch` merged at `path` (a dotted key path). */
function withAt(path: string, value: unknown): Json {
  const copy = structuredClone(good) as unknown as Json;
  const keys = path.split('.');
  let node = copy;
  for (const key of keys.slice(0, -1)) node = (node[key] ??= {}) as Json;
  node[keys.at(-1)!] = value;
  return copy;
}

interface Row {
  area: 'config' | 'config file' | 'data file' | 'official results' | 'cli' | 'server reply' | 'update';
  input: string;
  /** Rejects (or throws) with a refusal; `expect` is what its message must name. */
  run: () => unknown;
  expect: RegExp;
  /** What the refusal names: a key path, a file:line, a file, a flag, a value. */
  names: 'key path' | 'file:line' | 'file' | 'flag' | 'value';
}
const rows: Row[] = [];

// ---- configs: each value refused with its key path and file:line ----
const configCases: [string, unknown, string?][] = [
  ['runId', 'Upper Case'],
  ['runId', ''],
  ['runId', 'x'.repeat(64)],
  ['iterations', 0],
  ['iterations', 1001],
  ['iterations', 1.5],
  ['iterations', '3'],
  ['artifactRoot', ''],
  ['shardSize', 0],
  ['maxShards', 100_000],
  ['maxShardsInFlight', 0],
  ['policy.endpoint.baseUrl', 'ftp://h/v1'],
  ['policy.endpoint.baseUrl', 'not a url'],
  ['policy.endpoint.baseUrl', 'http://u:p@127.0.0.1:8000/v1'],
  ['policy.endpoint.baseUrl', 'https://h.example/v1?api_key=sk-1'],
  ['policy.endpoint.baseUrl', 'https://h.example/v1?access_token=t'],
  ['policy.endpoint.apiKeyEnv', 'lower_case'],
  ['policy.endpoint.apiKeyEnv', 'AWS_SECRET_ACCESS_KEY'],
  ['policy.endpoint.apiKeyEnv', 'EVOLVE_CODEC_KEY'],
  ['policy.endpoint.apiKeyEnv', 'TEMPORAL_API_KEY'],
  ['policy.endpoint.apiKeyEnv', 'HOME'],
  ['policy.endpoint.maxConcurrency', 0],
  ['policy.endpoint.maxConcurrency', 5000],
  ['policy.endpoint.requestTimeoutMs', 10],
  ['policy.endpoint.requestTimeoutMs', 1e12],
  ['policy.endpoint.ejectCooldownMs', 1e12],
  ['policy.endpoint.maxAttempts', 0],
  ['policy.endpoint.maxAttempts', 51],
  ['policy.endpoint.extraBody', { Authorization: 'Bearer x' }, 'policy.endpoint.extraBody.Authorization'],
  ['policy.endpoint.extraBody', { api_key: 'x' }, 'policy.endpoint.extraBody.api_key'],
  ['policy.endpoint.extraBody', { extra_headers: { a: 1 } }, 'policy.endpoint.extraBody.extra_headers'],
  ['policy.endpoint.unknownKey', 1],
  ['policy.baseModel', ''],
  ['policy.serve', { kind: 'restart', command: [] }, 'policy.serve.command'],
  [
    'policy.serve',
    { kind: 'restart', command: ['x'], healthTimeoutMs: 1e12 },
    'policy.serve.healthTimeoutMs',
  ],
  ['policy.serve', { kind: 'hot' }, 'policy.serve.kind'],
  ['policy.serve', { kind: 'vllm-lora' }, 'policy.serve.kind'],
  ['prompts', []],
  ['prompts', [{ kind: 'file', path: '' }], 'prompts.0.path'],
  ['prompts', [{ kind: 'file', path: 'p', format: 'csv' }], 'prompts.0.format'],
  ['prompts', [{ kind: 'arithmetic', count: 0 }], 'prompts.0.count'],
  ['prompts', [{ kind: 'web' }], 'prompts.0.kind'],
  ['sampling.samples', 0],
  ['sampling.samples', 65],
  ['sampling.chainDepth', 17],
  ['sampling.temperature', -1],
  ['sampling.temperature', 3],
  ['sampling.topP', 0],
  ['sampling.maxTokens', 0],
  ['sampling.strategy', 'beam'],
  ['sampling.tempreature', 1],
  ['refinement.template', 'three-turn'],
  ['refinement.instruction', ''],
  ['judge.kind', 'oracle'],
  ['judge.verifier', 'fuzzy'],
  ['judge.llm.maxScore', 1],
  ['judge.llm.mode', 'listwise'],
  ['judge.llm.attempts', 11],
  [
    'judge.llm.endpoint',
    { baseUrl: 'http://10.1.2.3/v1', apiKeyEnv: 'X_API_KEY' },
    'judge.llm.endpoint.baseUrl',
  ],
  [
    'judge.rewardModel',
    { api: 'openrlhf', endpoint: { baseUrl: 'http://h:5000' } },
    'judge.rewardModel.chatTemplate',
  ],
  ['pairing.rule', 'best-of'],
  ['pairing.margin', -1],
  ['pairing.ties', 'coin'],
  ['pairing.weights.direct', -1],
  ['trainer.backend', 'slurm'],
  ['trainer.beta', 0],
  ['trainer.learningRate', 0],
  ['trainer.maxLength', 8],
  ['trainer.maxRestarts', 11],
  ['trainer.reference', 'best'],
  ['trainer.lora', { r: 0 }, 'trainer.lora.r'],
  ['trainer', { backend: 'ray', address: 'http://u:p@h:8265' }, 'trainer.address'],
  [
    'trainer',
    { backend: 'ray', address: 'http://127.0.0.1:8265', runtimeEnv: { env_vars: { HF_TOKEN: 'x' } } },
    'trainer.runtimeEnv.env_vars.HF_TOKEN',
  ],
  [
    'trainer',
    {
      backend: 'ray',
      address: 'http://127.0.0.1:8265',
      runtimeEnv: { env_vars: { AWS_SECRET_ACCESS_KEY: 'x' } },
    },
    'trainer.runtimeEnv.env_vars.AWS_SECRET_ACCESS_KEY',
  ],
  ['trainer', { backend: 'kubernetes', apiServer: 'http://10.0.0.1:6443', image: 'i' }, 'trainer.apiServer'],
  [
    'trainer',
    { backend: 'kubernetes', apiServer: 'https://k', image: 'i', tokenEnv: 'GITHUB_TOKEN' },
    'trainer.tokenEnv',
  ],
  [
    'trainer',
    { backend: 'kubernetes', apiServer: 'https://k', image: 'i', namespace: 'Bad_NS' },
    'trainer.namespace',
  ],
  ['evaluation.strategy', 'beam'],
  ['evaluation.samples', 0],
  ['evaluation.refineRounds', 9],
  [
    'evaluation.suites',
    [{ name: 'Bad Name', kind: 'accuracy', prompts: { kind: 'arithmetic', count: 1 } }],
    'evaluation.suites.0.name',
  ],
  ['evaluation.suites', [{ name: 's', kind: 'mt-bench' }], 'evaluation.suites.0.kind'],
  ['reuseFrom', ['UPPER']],
];
for (const [path, value, reported = path] of configCases) {
  const at = reported.replaceAll('.', '\\.');
  rows.push({
    area: 'config',
    input: `${path} = ${JSON.stringify(value).slice(0, 60)}`,
    run: () => loadConfigFile(file(stringify(withAt(path, value))), {}),
    expect: new RegExp(`${at}[.\\w]* \\(.*input-\\d+\\.yaml:\\d+\\): `),
    names: 'key path',
  });
}

// ---- config files: syntax, encoding, size ----
const configFiles: [string, () => string, RegExp, Row['names']][] = [
  [
    'unclosed YAML list',
    () => file('runId: demo\niterations: [1,\n'),
    /input-\d+\.yaml:\d+: not valid YAML/,
    'file:line',
  ],
  [
    '.json with a trailing comma',
    () => file('{"runId": "demo",}', 'json'),
    /input-\d+\.json:1: not valid JSON/,
    'file:line',
  ],
  [
    '.json with a comment on line 2',
    () => file('{\n// c\n"runId": "demo"}', 'json'),
    /input-\d+\.json:2: not valid JSON/,
    'file:line',
  ],
  [
    'non-UTF-8 bytes on line 3',
    () => file(Buffer.from('runId: demo\niterations: 1\nartifactRoot: \xff\xfe\n', 'latin1')),
    /input-\d+\.yaml:3: not UTF-8 text/,
    'file:line',
  ],
  [
    'YAML alias bomb',
    () =>
      file(
        [
          'a: &a ["x","x","x","x","x","x","x","x","x"]',
          ...'bcdefghi'
            .split('')
            .map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`),
        ].join('\n'),
      ),
    /input-\d+\.yaml: not accepted: /,
    'file',
  ],
  ['a missing file', () => join(dir, 'nope.yaml'), /cannot read config .*nope\.yaml/, 'file'],
  [
    'a directory',
    () => (mkdirSync(join(dir, 'cfgdir'), { recursive: true }), join(dir, 'cfgdir')),
    /cannot read config .*cfgdir/,
    'file',
  ],
  ['an empty file', () => file(''), /\(root\) \(.*input-\d+\.yaml:1\): /, 'file:line'],
  ['a list at the top', () => file('- 1\n- 2\n'), /\(root\) \(.*input-\d+\.yaml:1\): /, 'file:line'],
  ['a YAML tag', () => file('runId: !!binary aGVsbG8=\n'), /runId \(.*input-\d+\.yaml:1\): /, 'file:line'],
];
for (const [input, make, expect, names] of configFiles)
  rows.push({ area: 'config file', input, run: () => loadConfigFile(make(), {}), expect, names });

// ---- update patches and --set ----
const updates: [string, () => unknown, RegExp][] = [
  [
    'update trainer.python',
    () => applyConfigUpdate(good, { trainer: { python: '/tmp/x' } }, 1),
    /trainer\.python: executables/,
  ],
  [
    'update policy.serve.command',
    () => applyConfigUpdate(good, { policy: { serve: { kind: 'restart', command: ['id'] } } }, 1),
    /policy\.serve\.command: executables/,
  ],
  [
    'update policy.endpoint.baseUrl',
    () => applyConfigUpdate(good, { policy: { endpoint: { baseUrl: 'http://127.0.0.1:1/v1' } } }, 1),
    /policy\.endpoint\.baseUrl: executables/,
  ],
  [
    'update judge apiKeyEnv',
    () => applyConfigUpdate(good, { judge: { llm: { endpoint: { apiKeyEnv: 'A_API_KEY' } } } }, 1),
    /judge\.llm\.endpoint\.apiKeyEnv: executables/,
  ],
  [
    'update runId',
    () => applyConfigUpdate(good, { runId: 'other' }, 1),
    /runId: fixed for the life of a run/,
  ],
  [
    'update iterations below started',
    () => applyConfigUpdate(good, { iterations: 1 }, 2),
    /iterations: must be at least 2/,
  ],
  ['update a list as patch', () => applyConfigUpdate(good, [1], 1), /\(root\): expected an object/],
  ['update file that is a list', () => loadPatchFile(file('- a\n')), /input-\d+\.yaml: expected a mapping/],
];
for (const [input, run, expect] of updates)
  rows.push({ area: 'update', input, run, expect, names: 'key path' });
for (const assignment of [
  '__proto__.x=1',
  'constructor.prototype.x=1',
  'a.prototype=1',
  'a..b=1',
  'noequals',
  '=1',
  'a b=1',
])
  rows.push({
    area: 'cli',
    input: `--set ${assignment}`,
    run: () => setPath({}, assignment),
    expect: /^--set /,
    names: 'flag',
  });

// ---- data files: file:line ----
const prompt =
  (format: PromptFileFormat, content: string, ext = 'jsonl') =>
  () =>
    readPromptFile({ kind: 'file', path: file(content, ext), format });
const dataFiles: [string, () => Promise<unknown>, RegExp, Row['names']][] = [
  [
    'evolve row not JSON (line 2)',
    prompt('evolve', '{"id":"a","prompt":"p"}\n{oops\n'),
    /input-\d+\.jsonl:2: not valid JSON/,
    'file:line',
  ],
  [
    'evolve row without prompt',
    prompt('evolve', '{"id":"a"}\n'),
    /input-\d+\.jsonl:1.*\n.*prompt/,
    'file:line',
  ],
  [
    'evolve row with an unknown key',
    prompt('evolve', '{"id":"a","prompt":"p","gold":"1"}\n'),
    /input-\d+\.jsonl:1.*\n.*gold: unknown key/,
    'file:line',
  ],
  [
    'evolve row with an empty id (line 3)',
    prompt('evolve', '{"id":"a","prompt":"p"}\n\n{"id":"","prompt":"p"}\n'),
    /input-\d+\.jsonl:3/,
    'file:line',
  ],
  [
    'gsm8k answer without ####',
    prompt('gsm8k', '{"question":"q","answer":"42"}\n'),
    /input-\d+\.jsonl:1.*\n.*answer: a GSM8K solution/,
    'file:line',
  ],
  [
    'math row without unique_id',
    prompt('math', '{"problem":"p","answer":"1"}\n'),
    /input-\d+\.jsonl:1.*\n.*unique_id/,
    'file:line',
  ],
  [
    'arena-hard row without turns',
    prompt('arena-hard', '{"question_id":"q"}\n'),
    /input-\d+\.jsonl:1/,
    'file:line',
  ],
  [
    'alpaca-eval not an array',
    prompt('alpaca-eval', '{"instruction":"i"}', 'json'),
    /input-\d+\.json: expected a JSON array/,
    'file',
  ],
  [
    'alpaca-eval item without instruction',
    prompt('alpaca-eval', '[{"instruction":"i"},{"output":"o"}]', 'json'),
    /input-\d+\.json.*(1|\[1\])/,
    'file:line',
  ],
  [
    'alpaca-eval not JSON',
    prompt('alpaca-eval', '[{"instruction":"i"},]', 'json'),
    /input-\d+\.json: not valid JSON/,
    'file',
  ],
  [
    'missing prompt file',
    () => readPromptFile({ kind: 'file', path: join(dir, 'missing.jsonl') }),
    /prompt file not found: .*missing\.jsonl/,
    'file',
  ],
  [
    'a directory as prompt file',
    () => readPromptFile({ kind: 'file', path: dir }),
    /prompt file .* cannot be read: EISDIR/,
    'file',
  ],
  [
    `a row over ${MAX_ROW_BYTES} bytes (line 2)`,
    prompt('evolve', `{"id":"a","prompt":"p"}\n{"id":"b","prompt":"${'x'.repeat(MAX_ROW_BYTES)}"}\n`),
    /input-\d+\.jsonl:2: a row longer than \d+ bytes/,
    'file:line',
  ],
];
for (const [input, run, expect, names] of dataFiles)
  rows.push({ area: 'data file', input, run, expect, names });

// ---- official result files ----
const official: [string, () => Promise<unknown>, RegExp, Row['names']][] = [
  [
    'annotations not an array',
    () => readAlpacaAnnotations(file('{}', 'json')),
    /input-\d+\.json: expected a JSON array/,
    'file',
  ],
  [
    'annotation without instruction',
    () => readAlpacaAnnotations(file('[{"preference":1}]', 'json')),
    /input-\d+\.json:1 \(item 0\) is invalid:\n\s+instruction/,
    'file:line',
  ],
  [
    'annotation preference a string',
    () => readAlpacaAnnotations(file('[{"instruction":"i","preference":"2"}]', 'json')),
    /input-\d+\.json:1 \(item 0\) is invalid:\n\s+preference/,
    'file:line',
  ],
  [
    'difficulty csv bad line 3',
    () => readInstructionDifficulty(file('index,instruction_difficulty\n0,1.5\nzero,x\n', 'csv')),
    /input-\d+\.csv:3: "index" is not a number/,
    'file:line',
  ],
  [
    'judgment with one game',
    () =>
      readArenaHardJudgments(
        [file('{"uid":"u","model":"m","games":[{"score":"A>B"}]}\n', 'jsonl')],
        'gpt-4-0314',
      ),
    /input-\d+\.jsonl:1.*\n.*games: two games/,
    'file:line',
  ],
  [
    'judgment without model (line 2)',
    () =>
      readArenaHardJudgments(
        [file('{"uid":"u","model":"m","games":[{},{}]}\n{"uid":"v","games":[{},{}]}\n', 'jsonl')],
        'gpt-4-0314',
      ),
    /input-\d+\.jsonl:2.*\n.*model/,
    'file:line',
  ],
  [
    'judgment path missing',
    () => readArenaHardJudgments([join(dir, 'none')], 'gpt-4-0314'),
    /judgment file or directory not found/,
    'file',
  ],
  [
    'judgment dir without .jsonl',
    () =>
      readArenaHardJudgments(
        [(mkdirSync(join(dir, 'empty'), { recursive: true }), join(dir, 'empty'))],
        'gpt-4-0314',
      ),
    /no \.jsonl judgment files in/,
    'file',
  ],
  [
    'baseline answer without assistant last',
    () => readArenaHardAnswers(file('{"uid":"u","model":"m","messages":[{"role":"user","content":"q"}]}\n')),
    /input-\d+\.yaml:1/,
    'file:line',
  ],
  [
    'baseline answer not JSON',
    () => readArenaHardAnswers(file('nope\n')),
    /input-\d+\.yaml:1: not valid JSON/,
    'file:line',
  ],
];
for (const [input, run, expect, names] of official)
  rows.push({ area: 'official results', input, run, expect, names });

// ---- server replies ----
rows.push({
  area: 'server reply',
  input: 'Retry-After: 99999999999 (capped, not refused)',
  run: () => {
    const ms = capRetryAfter(retryAfterMs(new Headers({ 'retry-after': '99999999999' })));
    throw new DataError(`waits ${ms} ms`);
  },
  expect: new RegExp(`waits ${MAX_RETRY_AFTER_MS} ms`),
  names: 'value',
});

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
