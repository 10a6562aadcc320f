import { loadAnnotator, loadJudgeConfig } from './benchmarks/official-configs.js';
import { ConfigError, type PromptSource, type RunConfig } from '../core/config.js';
import { poolShortfall } from '../core/prompt-slices.js';
import { PreferenceRowSchema } from '../core/records.js';
import { readReferenceAnswers, streamPromptFile } from './benchmarks/loaders.js';
import { readInstructionDifficulty } from './benchmarks/official-results.js';
import { DataError, exists } from './files.js';
import { readJsonl } from './jsonl.js';

/**
 * The config checks that need the prompt files, so that a bad file is refused by `evolve config` and
 * `evolve run`, not when the run reaches it. Every file the config names (training and evaluation prompts,
 * the stage-0 preference set, the suites' prompts, reference or baseline answers, difficulty and judge
 * configs) is read with the reader the run uses: a malformed one is a problem naming its key and
 * file:line. A training file with perIteration must hold iterations x perIteration prompts, so that
 * every iteration gets fresh ones; evaluation prompts need gold answers (see `ungraded`). One line per problem. With `onAbsent`, a
 * file that is not on this machine is handed to it instead of being a problem: a config may be checked
 * away from the data (the worker checks again when the run starts).
 */
export async function promptPoolProblems(
  config: RunConfig,
  onAbsent?: (line: string) => void,
): Promise<string[]> {
  const sources: [string, PromptSource, 'train' | 'evaluate'][] = [
    ...config.prompts.map((s, i): [string, PromptSource, 'train'] => [`prompts.${i}`, s, 'train']),
    ['evaluation.prompts', config.evaluation.prompts, 'evaluate'],
    ...(config.evaluation.suites ?? []).flatMap((s, i): [string, PromptSource, 'evaluate'][] =>
      s.kind === 'accuracy' ? [[`evaluation.suites.${i}.prompts`, s.prompts, 'evaluate']] : [],
    ),
  ];
  const problems: string[] = [];
  for (const [key, source, use] of sources) {
    if (source.kind !== 'file') continue;
    if (onAbsent && !(await exists(source.path))) {
      const what =
        use === 'train' && source.perIteration !== undefined
          ? `its pool (${config.iterations} x ${source.perIteration})`
          : 'it';
      onAbsent(`${key}.path: ${source.path} is not on this machine: ${what} is checked when the run starts`);
      continue;
    }
    const pool = await tallyPrompts(source).catch((err: unknown) => {
      problems.push(`  ${key}.path: ${(err as Error).message}`);
      return null;
    });
    if (!pool) continue;
    const shortfall =
      use === 'train' &&
      source.perIteration !== undefined &&
      poolShortfall(pool.size, source.perIteration, config.iterations);
    if (shortfall) problems.push(`  ${key}.perIteration: ${source.path}: ${shortfall}`);
    if (use === 'evaluate' && !config.evaluation.judgeAccuracy)
      problems.push(...ungraded(key, source.path, pool));
  }
  for (const [key, path, read] of namedFiles(config)) {
    if (onAbsent && !(await exists(path))) {
      onAbsent(`${key}: ${path} is not on this machine: it is checked when the run starts`);
      continue;
    }
    await read(path).catch((err: unknown) => {
      const message = (err as Error).message;
      problems.push(`  ${key}: ${message.includes(path) ? message : `${path}: ${message}`}`);
    });
  }
  return problems;
}

/** What the checks keep of a prompt file, streamed as the run reads it: its size, prompts without answers. */
interface PromptTally {
  size: number;
  missing: number;
  firstMissing?: string;
}

async function tallyPrompts(source: Extract<PromptSource, { kind: 'file' }>): Promise<PromptTally> {
  const tally: PromptTally = { size: 0, missing: 0 };
  for await (const p of streamPromptFile(source)) {
    tally.size++;
    if (p.answer !== undefined) continue;
    tally.missing++;
    tally.firstMissing ??= p.id;
  }
  return tally;
}

/** Reads every row of a stage-0 preference set (streamed: it may be large); an empty one is refused. */
async function checkPreferenceSet(path: string): Promise<void> {
  const rows = readJsonl(path, PreferenceRowSchema);
  let empty = true;
  while (!(await rows.next()).done) empty = false;
  if (empty) throw new DataError(`${path} has no rows`);
}

/** A file other than a prompt source that a config names: key, path, and the reader the run uses. */
type NamedFile = [key: string, path: string, read: (path: string) => Promise<unknown>];

function namedFiles(config: RunConfig): NamedFile[] {
  const files: NamedFile[] = [];
  const { dataset } = config.trainer.sft;
  if (dataset) files.push(['trainer.sft.dataset', dataset, checkPreferenceSet]);
  for (const [i, suite] of (config.evaluation.suites ?? []).entries()) {
    const key = `evaluation.suites.${i}`;
    if (suite.kind === 'alpaca-eval') {
      // The instructions with their reference outputs: the stricter of the two readers of this file.
      files.push([
        `${key}.prompts`,
        suite.prompts,
        (prompts) => readReferenceAnswers({ kind: suite.kind, prompts }),
      ]);
      if (suite.difficulty) files.push([`${key}.difficulty`, suite.difficulty, readInstructionDifficulty]);
      // The default annotator is the worker's (installed under its EVOLVE_HOME): only a named one is read here.
      if (suite.judge.annotator) files.push([`${key}.judge.annotator`, suite.judge.annotator, loadAnnotator]);
    } else if (suite.kind === 'arena-hard') {
      files.push(
        [`${key}.prompts`, suite.prompts, (path) => tallyPrompts({ kind: 'file', path, format: suite.kind })],
        [
          `${key}.baseline`,
          suite.baseline,
          (baseline) => readReferenceAnswers({ kind: suite.kind, baseline }),
        ],
        [`${key}.judge.config`, suite.judge.config, loadJudgeConfig],
      );
    }
  }
  return files;
}

/**
 * Accuracy counts a kept answer as correct when its score is 1, which only a verifier against a gold
 * answer means: on a prompt without one, a judge's top score would pass for "correct". Such evaluation
 * prompts are refused unless `evaluation.judgeAccuracy` says that is what is wanted.
 */
function ungraded(key: string, path: string, { size, missing, firstMissing }: PromptTally): string[] {
  if (missing === 0) return [];
  return [
    `  ${key}: ${path}: ${missing} of ${size} prompts have no gold answer (first: id "${firstMissing}"); ` +
      "accuracy needs gold answers: add them, or set evaluation.judgeAccuracy: true to count the judge's top score as correct",
  ];
}

/** Throws a ConfigError naming every prompt pool too small for the run (see promptPoolProblems). */
export async function checkPromptPools(
  config: RunConfig,
  source = 'config',
  onAbsent?: (line: string) => void,
): Promise<void> {
  const problems = await promptPoolProblems(config, onAbsent);
  if (problems.length > 0) throw new ConfigError(`${source} is invalid:\n${problems.join('\n')}`);
}
