/**
 * The official judges' own config files, read at judge time rather than retyped: AlpacaEval's annotator
 * (configs.yaml and its prompt template, from the alpaca-eval package the bootstrap installs) and
 * Arena-Hard's judge_config.yaml (the file the user points to).
 */
import { basename, dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';
import type { z } from 'zod';
import { formatIssues } from '../../core/config/errors.js';
import {
  AnnotatorConfigSchema,
  type Annotator,
  JudgeConfigSchema,
  type JudgeConfig,
} from '../../core/official-judges.js';
import { DataError, readInputText } from '../files.js';

/** The alpaca-eval version whose annotator the bootstrap installs (deploy/bootstrap.sh). */
export const ALPACA_EVAL_VERSION = '0.6.6';
export const OFFICIAL_ANNOTATOR = 'weighted_alpaca_eval_gpt4_turbo';

/** configs.yaml of the official annotator as the bootstrap installs it under $EVOLVE_HOME. */
export const defaultAnnotatorConfig = (home = process.env.EVOLVE_HOME ?? '.evolve') =>
  resolve(
    home,
    `alpaca-eval-${ALPACA_EVAL_VERSION}`,
    'alpaca_eval',
    'evaluators_configs',
    OFFICIAL_ANNOTATOR,
    'configs.yaml',
  );

async function readText(path: string, what: string): Promise<string> {
  return readInputText(path, 'yaml').catch((err: NodeJS.ErrnoException) => {
    if (err instanceof DataError) throw err;
    throw new DataError(
      err.code === 'ENOENT' ? `${what} not found: ${path}` : `${what} ${path}: ${err.message}`,
    );
  });
}

function yamlOf(text: string, path: string): unknown {
  try {
    return parse(text);
  } catch (err) {
    throw new DataError(`${path}: not YAML: ${(err as Error).message}`);
  }
}

function checked<S extends z.ZodType>(schema: S, value: unknown, source: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new DataError(formatIssues(parsed.error, value, source));
  return parsed.data;
}

/**
 * An AlpacaEval annotator from its configs.yaml (one annotator in it); the prompt template path is
 * relative to the evaluators_configs directory, as BaseAnnotator resolves it (the config's parents[1]).
 */
export async function loadAnnotator(path = defaultAnnotatorConfig()): Promise<Annotator> {
  const hint =
    path === defaultAnnotatorConfig()
      ? ' (installed by deploy/bootstrap.sh: run it, or set judge.annotator)'
      : '';
  const doc = yamlOf(await readText(path, `AlpacaEval annotator config${hint}`), path);
  const entries = doc && typeof doc === 'object' ? Object.entries(doc) : [];
  if (entries.length !== 1)
    throw new DataError(`${path}: expected exactly one annotator, found ${entries.length}`);
  const [name, raw] = entries[0]!;
  const config = checked(AnnotatorConfigSchema, raw, `${path} (${name})`);
  const templatePath = join(dirname(dirname(path)), config.prompt_template);
  return {
    name,
    config,
    template: await readText(templatePath, `prompt template of ${basename(dirname(path))}`),
  };
}

/** An Arena-Hard judge_config.yaml. */
export async function loadJudgeConfig(path: string): Promise<JudgeConfig> {
  return checked(JudgeConfigSchema, yamlOf(await readText(path, 'Arena-Hard judge config'), path), path);
}
