/** The bad-input table's config, config file and update rows (test/unit/bad-input.test.ts). */

import { mkdirSync, readFileSync } from 'node:fs';

import { join } from 'node:path';

import { parse, stringify } from 'yaml';

import { loadConfigFile, loadPatchFile, setPath } from '../../client/config-file.js';
import { applyConfigUpdate, type RunConfig } from '../../core/config.js';
import { checkPromptPools } from '../../storage/prompt-pools.js';

import { dir, file, good, withAt, type Json, type Row } from './bad-input.js';

export const rows: Row[] = [];

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
// Issue 29: every numeric key has a bound (no 1e308).
for (const path of [
  'pairing.margin',
  'pairing.lengthPenalty',
  'trainer.beta',
  'trainer.learningRate',
  'trainer.epochs',
  'trainer.nll',
  'trainer.srpoAlpha',
  'trainer.batchSize',
  'trainer.maxLength',
  'trainer.gradientAccumulation',
  'trainer.saveSteps',
  'trainer.maxRestarts',
  'policy.endpoint.outageBudgetHours',
  'policy.endpoint.maxConcurrency',
  'sampling.temperature',
  'sampling.topP',
  'sampling.maxTokens',
  'sampling.seed',
  'sampling.samples',
  'sampling.chainDepth',
  'pairing.seed',
  'evaluation.samples',
  'evaluation.refineRounds',
  'evaluation.temperature',
  'evaluation.maxTokens',
  'judge.llm.maxScore',
  'judge.llm.maxTokens',
  'judge.llm.attempts',
  'judge.llm.endpoint.outageBudgetHours',
  'judge.llm.endpoint.maxConcurrency',
  'iterations',
  'shardSize',
  'maxShards',
  'maxShardsInFlight',
  'policy.endpoint.requestTimeoutMs',
  'policy.endpoint.ejectCooldownMs',
  'policy.endpoint.maxAttempts',
])
  configCases.push([path, 1e308]);
configCases.push(
  ['pairing.weights', { direct: 1e308 }, 'pairing.weights.direct'],
  ['pairing.weights', { refinement: 1e308 }, 'pairing.weights.refinement'],
  ['trainer.lora', { r: 1e308 }, 'trainer.lora.r'],
  ['trainer.lora', { alpha: 1e308 }, 'trainer.lora.alpha'],
  ['trainer.lora', { dropout: 1e308 }, 'trainer.lora.dropout'],
);

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

// ---- files a config names: read when the config is checked (evolve config / run), refused with file:line ----
const malformed = () => file('{"id":"a","prompt":"p","answer":"1"}\n{oops\n', 'jsonl');
const namedFiles: [string, () => RunConfig, RegExp][] = [
  [
    'training prompts (no perIteration) malformed',
    () => ({ ...good, prompts: [{ kind: 'file', path: malformed() }] }),
    /prompts\.0\.path: .*input-\d+\.jsonl:2: not valid JSON/,
  ],
  [
    'evaluation prompts malformed',
    () => ({ ...good, evaluation: { ...good.evaluation, prompts: { kind: 'file', path: malformed() } } }),
    /evaluation\.prompts\.path: .*input-\d+\.jsonl:2: not valid JSON/,
  ],
  [
    'evaluation prompts malformed, judgeAccuracy on',
    () => ({
      ...good,
      evaluation: { ...good.evaluation, judgeAccuracy: true, prompts: { kind: 'file', path: malformed() } },
    }),
    /evaluation\.prompts\.path: .*input-\d+\.jsonl:2: not valid JSON/,
  ],
  [
    'accuracy suite prompts malformed',
    () => ({
      ...good,
      evaluation: {
        ...good.evaluation,
        suites: [
          { name: 's', kind: 'accuracy', prompts: { kind: 'file', path: malformed() }, verifier: 'numeric' },
        ],
      },
    }),
    /evaluation\.suites\.0\.prompts\.path: .*input-\d+\.jsonl:2: not valid JSON/,
  ],
  [
    'evaluation prompts missing',
    () => ({
      ...good,
      evaluation: { ...good.evaluation, prompts: { kind: 'file', path: join(dir, 'absent.jsonl') } },
    }),
    /evaluation\.prompts\.path: .*absent\.jsonl/,
  ],
];
// Issue 29: the stage-0 preference set and the AlpacaEval / Arena-Hard suite files are read the same way.
const sftSet =
  (content: string): (() => RunConfig) =>
  () => ({
    ...good,
    trainer: { ...good.trainer, sft: { ...good.trainer.sft, dataset: file(content, 'jsonl') } },
  });
const preference = JSON.stringify({
  prompt: [{ role: 'user', content: 'x' }],
  chosen: [{ role: 'assistant', content: 'a' }],
  rejected: [{ role: 'assistant', content: 'b' }],
});
const official = 'test/fixtures/official-judges';
const judgeEndpoint = good.judge.llm?.endpoint ?? good.policy.endpoint;
/** The demo config with one suite whose files are the good fixtures but for `patch`. */
const withSuite =
  (kind: 'alpaca-eval' | 'arena-hard', patch: () => Json): (() => RunConfig) =>
  () => {
    const base =
      kind === 'alpaca-eval'
        ? {
            prompts: `${official}/alpaca-eval/reference_outputs.json`,
            seed: 0,
            judge: { endpoint: judgeEndpoint },
          }
        : {
            prompts: `${official}/arena-hard/question.jsonl`,
            baseline: `${official}/arena-hard/gpt-4-0314.jsonl`,
            bootstrapRounds: 100,
            seed: 42,
            judge: { endpoint: judgeEndpoint, config: `${official}/arena-hard/judge_config.yaml` },
          };
    const { judge, ...rest } = patch();
    const suite = { name: 's', kind, ...base, ...rest, judge: { ...base.judge, ...(judge as Json) } };
    return { ...good, evaluation: { ...good.evaluation, suites: [suite] } } as RunConfig;
  };
const judgeConfig = (change: Json) =>
  file(
    stringify({
      ...(parse(readFileSync(`${official}/arena-hard/judge_config.yaml`, 'utf8')) as Json),
      ...change,
    }),
  );
namedFiles.push(
  [
    'stage-0 preference set malformed (line 2)',
    sftSet(`${preference}\n{oops\n`),
    /trainer\.sft\.dataset: .*input-\d+\.jsonl:2: not valid JSON/,
  ],
  [
    'stage-0 preference set: chosen not an assistant message (line 2)',
    sftSet(`${preference}\n${preference.replace('"assistant"', '"user"')}\n`),
    /trainer\.sft\.dataset: .*input-\d+\.jsonl:2[\s\S]*chosen/,
  ],
  ['stage-0 preference set empty', sftSet('\n'), /trainer\.sft\.dataset: .*input-\d+\.jsonl has no rows/],
  [
    'stage-0 preference set missing',
    () => ({
      ...good,
      trainer: { ...good.trainer, sft: { ...good.trainer.sft, dataset: join(dir, 'no-sft.jsonl') } },
    }),
    /trainer\.sft\.dataset: .*no-sft\.jsonl/,
  ],
  [
    'AlpacaEval reference outputs: item 1 without output',
    withSuite('alpaca-eval', () => ({
      prompts: file('[{"instruction":"i","output":"o"},\n{"instruction":"j"}]', 'json'),
    })),
    /evaluation\.suites\.0\.prompts: .*input-\d+\.json:2 \(item 1\)[\s\S]*output/,
  ],
  [
    'AlpacaEval reference outputs not JSON',
    withSuite('alpaca-eval', () => ({ prompts: file('[{"instruction":"i","output":"o"},]', 'json') })),
    /evaluation\.suites\.0\.prompts: .*input-\d+\.json: not valid JSON/,
  ],
  [
    'AlpacaEval difficulty CSV bad line 3',
    withSuite('alpaca-eval', () => ({
      difficulty: file('index,instruction_difficulty\n0,1.5\nzero,x\n', 'csv'),
    })),
    /evaluation\.suites\.0\.difficulty: .*input-\d+\.csv:3: /,
  ],
  [
    'AlpacaEval annotator config not YAML',
    withSuite('alpaca-eval', () => ({ judge: { annotator: file('a: [1,\n') } })),
    /evaluation\.suites\.0\.judge\.annotator: .*input-\d+\.yaml: not YAML/,
  ],
  [
    'Arena-Hard questions malformed (line 2)',
    withSuite('arena-hard', () => ({ prompts: file('{"uid":"q","prompt":"p"}\n{oops\n', 'jsonl') })),
    /evaluation\.suites\.0\.prompts: .*input-\d+\.jsonl:2: not valid JSON/,
  ],
  [
    'Arena-Hard baseline answer without choices (line 2)',
    withSuite('arena-hard', () => ({
      baseline: file(
        `${readFileSync(`${official}/arena-hard/gpt-4-0314.jsonl`, 'utf8').split('\n')[0]}\n{"question_id":"q","model_id":"m"}\n`,
        'jsonl',
      ),
    })),
    /evaluation\.suites\.0\.baseline: .*input-\d+\.jsonl:2/,
  ],
  [
    'Arena-Hard baseline missing',
    withSuite('arena-hard', () => ({ baseline: join(dir, 'no-baseline.jsonl') })),
    /evaluation\.suites\.0\.baseline: reference answer file not found: .*no-baseline\.jsonl/,
  ],
  [
    'Arena-Hard judge_config.yaml not YAML',
    withSuite('arena-hard', () => ({ judge: { config: file('judge_model: m\nprompt_template: [a,\n') } })),
    /evaluation\.suites\.0\.judge\.config: .*input-\d+\.yaml: not YAML/,
  ],
  [
    'Arena-Hard judge_config.yaml not pairwise',
    withSuite('arena-hard', () => ({ judge: { config: judgeConfig({ pairwise: false }) } })),
    /evaluation\.suites\.0\.judge\.config: [\s\S]*input-\d+\.yaml[\s\S]*pairwise/,
  ],
);
for (const [input, config, expect] of namedFiles)
  rows.push({
    area: 'config file',
    input,
    run: () => checkPromptPools(config()),
    expect,
    names: 'file:line',
  });

// ---- update patches and --set ----
const updates: [string, () => unknown, RegExp][] = [
  [
    'update trainer.python',
    () => applyConfigUpdate(good, { trainer: { python: '/tmp/x' } }, 1),
    /trainer\.python: fixed for the life of a run/,
  ],
  [
    'update policy.serve.command',
    () => applyConfigUpdate(good, { policy: { serve: { kind: 'restart', command: ['id'] } } }, 1),
    /policy\.serve: fixed for the life of a run/,
  ],
  [
    'update policy.endpoint.baseUrl',
    () => applyConfigUpdate(good, { policy: { endpoint: { baseUrl: 'http://127.0.0.1:1/v1' } } }, 1),
    /policy\.endpoint\.baseUrl: fixed for the life of a run/,
  ],
  [
    'update judge apiKeyEnv',
    () => applyConfigUpdate(good, { judge: { llm: { endpoint: { apiKeyEnv: 'A_API_KEY' } } } }, 1),
    /judge\.llm\.endpoint\.apiKeyEnv: fixed for the life of a run/,
  ],
  // Issue 29: an update changes only the allow-listed keys; what runs, its arguments and its paths are fixed.
  ...(
    [
      ['trainer.extraArgs', { trainer: { extraArgs: ['--output_dir=/etc'] } }],
      [
        'trainer.launcher.kind',
        { trainer: { launcher: { kind: 'accelerate', numProcesses: 2, config: '/x.yaml' } } },
      ],
      ['trainer.device', { trainer: { device: good.trainer.device === 'cpu' ? 'cuda' : 'cpu' } }],
      ['prompts.0.seed', { prompts: [{ ...good.prompts[0], seed: 99 }, ...good.prompts.slice(1)] }],
      ['prompts', { prompts: [{ kind: 'file', path: '/etc/passwd' }, ...good.prompts] }],
      ['evaluation.prompts.seed', { evaluation: { prompts: { seed: 99 } } }],
      ['judge.cacheDir', { judge: { cacheDir: '/tmp/other' } }],
      ['reuseFrom', { reuseFrom: ['other-run'] }],
      ['policy.endpoint.extraBody', { policy: { endpoint: { extraBody: { user: 'x' } } } }],
      [
        'policy.endpoint.baseUrls',
        { policy: { endpoint: { baseUrl: undefined, baseUrls: ['http://127.0.0.1:2/v1'] } } },
      ],
    ] as [string, unknown][]
  ).map(([path, patch]): [string, () => unknown, RegExp] => [
    `update ${path}`,
    () => applyConfigUpdate(good, patch, 1),
    new RegExp(`${path.replaceAll('.', '\\.')}: fixed for the life of a run`),
  ]),
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
