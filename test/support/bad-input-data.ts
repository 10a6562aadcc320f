/** The bad-input table's data file, official result and server reply rows (test/unit/bad-input.test.ts). */

import { mkdirSync, truncateSync } from 'node:fs';

import { join } from 'node:path';

import { DataError, INPUT_FILE_CAPS, type InputFileKind } from '../../storage/files.js';
import { MAX_ROW_BYTES } from '../../storage/jsonl.js';
import { loadJudgeConfig } from '../../storage/benchmarks/official-configs.js';
import { readArenaHardAnswers } from '../../storage/benchmarks/loaders.js';
import { readPromptFile } from './prompt-file.js';
import {
  readAlpacaAnnotations,
  readArenaHardJudgments,
  readInstructionDifficulty,
} from '../../storage/benchmarks/official-results.js';
import { capRetryAfter, MAX_RETRY_AFTER_MS, retryAfterMs } from '../../activities/inference.js';

import { type PromptFileFormat } from '../../core/config.js';

import { dir, file, type Row } from './bad-input.js';

export const rows: Row[] = [];

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
    // A file whose rows are all kept is refused by its size first (below): the row cap is what a streamed
    // file (a JSONL prompt file, the stage-0 set, an artifact) has.
    `a row over ${MAX_ROW_BYTES} bytes in a streamed prompt file (line 2)`,
    prompt('evolve', `{"id":"a","prompt":"p"}\n{"id":"b","prompt":"${'x'.repeat(MAX_ROW_BYTES)}"}\n`),
    /input-\d+\.jsonl:2: a row longer than \d+ bytes/,
    'file:line',
  ],
  // Issue 29: memory is bounded per file. Every reader that holds a user-supplied file whole (a JSON array,
  // YAML, CSV, or all the rows of a JSONL file) refuses one over its kind's cap by its size, before reading it.
  // JSONL prompt files (evolve, gsm8k, math, Arena-Hard questions) stream: no file cap (input-heap.test.ts).
  ...(
    [
      [
        'AlpacaEval prompt file',
        'json',
        (path) => readPromptFile({ kind: 'file', path, format: 'alpaca-eval' }),
      ],
      ['AlpacaEval annotations', 'json', readAlpacaAnnotations],
      ['Arena-Hard baseline answers', 'jsonl', readArenaHardAnswers],
      ['Arena-Hard judgments', 'jsonl', (path) => readArenaHardJudgments([path], 'gpt-4-0314')],
      ['Arena-Hard judge_config.yaml', 'yaml', loadJudgeConfig],
      ['AlpacaEval difficulty CSV', 'csv', readInstructionDifficulty],
    ] as [string, InputFileKind, (path: string) => Promise<unknown>][]
  ).map(([what, ext, read]): [string, () => Promise<unknown>, RegExp, Row['names']] => [
    `${what} over ${INPUT_FILE_CAPS[ext]} bytes`,
    () => {
      // Sparse: the size is what the reader sees first, and it must refuse without reading.
      const path = file('[', ext);
      truncateSync(path, INPUT_FILE_CAPS[ext] + 1);
      return read(path);
    },
    new RegExp(
      `input-\\d+\\.${ext}: ${INPUT_FILE_CAPS[ext] + 1} bytes, over the ${INPUT_FILE_CAPS[ext]} bytes a ${ext.toUpperCase()} input file may have`,
    ),
    'file',
  ]),
];
for (const [input, run, expect, names] of dataFiles)
  rows.push({ area: 'data file', input, run, expect, names });

// ---- official result files ----
/** An Arena-Hard judgment row whose both games carry `score`. */
const judgment = (score: string | null, id = 'q1') =>
  JSON.stringify({ question_id: id, model: 'm', games: [{ score }, { score }] });
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
  // Issue 29: empty and degenerate inputs, and bad Arena-Hard labels, are refused naming file and record.
  [
    'annotations an empty array',
    () => readAlpacaAnnotations(file('[]', 'json')),
    /input-\d+\.json: no annotations \(an empty array\): nothing to score/,
    'file',
  ],
  [
    'annotations all preferences null',
    () => readAlpacaAnnotations(file('[{"instruction":"i","preference":null},{"instruction":"j"}]', 'json')),
    /input-\d+\.json: none of its 2 annotations has a preference/,
    'file',
  ],
  [
    'arena-hard judgment with a bad label (line 2)',
    () =>
      readArenaHardJudgments(
        [file(`${judgment('A>B')}\n${judgment('A>>>B', 'q2')}\n`, 'jsonl')],
        'gpt-4-0314',
      ),
    /input-\d+\.jsonl:2 is invalid:\n\s+games\.0\.score: a verdict label is one of/,
    'file:line',
  ],
  [
    'arena-hard judgments all unlabelled',
    () =>
      readArenaHardJudgments([file(`${judgment(null)}\n${judgment(null, 'q2')}\n`, 'jsonl')], 'gpt-4-0314'),
    /input-\d+\.jsonl: none of its 2 rows has a verdict/,
    'file',
  ],
  [
    'arena-hard judgment file empty',
    () => readArenaHardJudgments([file('\n', 'jsonl')], 'gpt-4-0314'),
    /input-\d+\.jsonl: no judgment rows: nothing to score/,
    'file',
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
