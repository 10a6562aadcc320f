import { ConfigError, type PromptSource, type RunConfig } from '../core/config.js';
import { poolShortfall } from '../core/prompt-slices.js';
import { readPromptFile } from './benchmarks/loaders.js';
import { exists } from './files.js';

/**
 * The config checks that need the prompt files, so that a bad file is refused by `evolve config` and
 * `evolve run`, not when the run reaches it. Every prompt file the config names (training, evaluation,
 * accuracy suites) is read: a malformed one is a problem naming its key and file:line. A training file
 * with perIteration must hold iterations x perIteration prompts, so that every iteration gets fresh
 * ones; evaluation prompts need gold answers (see `ungraded`). One line per problem. With `onAbsent`, a
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
    const pool = await readPromptFile(source).catch((err: unknown) => {
      problems.push(`  ${key}.path: ${(err as Error).message}`);
      return null;
    });
    if (!pool) continue;
    const shortfall =
      use === 'train' &&
      source.perIteration !== undefined &&
      poolShortfall(pool.length, source.perIteration, config.iterations);
    if (shortfall) problems.push(`  ${key}.perIteration: ${source.path}: ${shortfall}`);
    if (use === 'evaluate' && !config.evaluation.judgeAccuracy)
      problems.push(...ungraded(key, source.path, pool));
  }
  return problems;
}

/**
 * Accuracy counts a kept answer as correct when its score is 1, which only a verifier against a gold
 * answer means: on a prompt without one, a judge's top score would pass for "correct". Such evaluation
 * prompts are refused unless `evaluation.judgeAccuracy` says that is what is wanted.
 */
function ungraded(key: string, path: string, rows: { id: string; answer?: unknown }[]): string[] {
  const missing = rows.filter((p) => p.answer === undefined);
  if (missing.length === 0) return [];
  return [
    `  ${key}: ${path}: ${missing.length} of ${rows.length} prompts have no gold answer (first: id "${missing[0]!.id}"); ` +
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
