import { ConfigError, type PromptSource, type RunConfig } from '../core/config.js';
import { poolShortfall } from '../core/prompt-slices.js';
import { readPromptFile } from './benchmarks/loaders.js';
import { exists } from './files.js';

/**
 * The config checks that need the prompt files: a file source with perIteration must hold
 * iterations x perIteration prompts, so that every iteration gets fresh ones. One line per problem.
 * With `onAbsent`, a pool file that is not on this machine is handed to it instead of being a problem:
 * a config may be checked away from the data (the worker checks again when the run starts).
 */
export async function promptPoolProblems(
  config: RunConfig,
  onAbsent?: (line: string) => void,
): Promise<string[]> {
  const problems: string[] = [];
  for (const [i, source] of config.prompts.entries()) {
    if (source.kind !== 'file' || source.perIteration === undefined) continue;
    if (onAbsent && !(await exists(source.path))) {
      onAbsent(
        `prompts.${i}.path: ${source.path} is not on this machine: its pool (${config.iterations} x ${source.perIteration}) is checked when the run starts`,
      );
      continue;
    }
    const pool = await readPromptFile(source).catch((err: unknown) => {
      problems.push(`  prompts.${i}.path: ${(err as Error).message}`);
      return null;
    });
    const shortfall = pool && poolShortfall(pool.length, source.perIteration, config.iterations);
    if (shortfall) problems.push(`  prompts.${i}.perIteration: ${source.path}: ${shortfall}`);
  }
  if (!config.evaluation.judgeAccuracy) problems.push(...(await ungradedProblems(config, onAbsent)));
  return problems;
}

/**
 * Accuracy counts a kept answer as correct when its score is 1, which only a verifier against a gold
 * answer means: on a prompt without one, a judge's top score would pass for "correct". Such evaluation
 * prompts are refused unless `evaluation.judgeAccuracy` says that is what is wanted.
 */
async function ungradedProblems(config: RunConfig, onAbsent?: (line: string) => void): Promise<string[]> {
  const sources: [string, PromptSource][] = [
    ['evaluation.prompts', config.evaluation.prompts],
    ...(config.evaluation.suites ?? []).flatMap((s, i): [string, PromptSource][] =>
      s.kind === 'accuracy' ? [[`evaluation.suites.${i}.prompts`, s.prompts]] : [],
    ),
  ];
  const problems: string[] = [];
  for (const [key, source] of sources) {
    if (source.kind !== 'file') continue;
    if (onAbsent && !(await exists(source.path))) {
      onAbsent(
        `${key}.path: ${source.path} is not on this machine: its gold answers are checked when the run starts`,
      );
      continue;
    }
    const rows = await readPromptFile(source).catch(() => []); // unreadable: the prompts step names it
    const ungraded = rows.filter((p) => p.answer === undefined);
    if (ungraded.length > 0)
      problems.push(
        `  ${key}: ${source.path}: ${ungraded.length} of ${rows.length} prompts have no gold answer (first: id "${ungraded[0]!.id}"); ` +
          "accuracy needs gold answers: add them, or set evaluation.judgeAccuracy: true to count the judge's top score as correct",
      );
  }
  return problems;
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
