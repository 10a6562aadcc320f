import { z } from 'zod';
import { RunConfig, RunConfigSchema } from './run.js';

/** Thrown for input a user must fix; its message names the offending key paths. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Each problem as (key path, what was expected): unknown keys one by one, missing keys as "required". */
export function describeIssues(
  error: z.ZodError,
  input: unknown,
): { path: PropertyKey[]; message: string }[] {
  const valueAt = (path: PropertyKey[]) =>
    path.reduce<unknown>(
      (node, key) =>
        node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[key] : undefined,
      input,
    );
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: [...issue.path, key], message: 'unknown key' }));
    }
    if (issue.code === 'invalid_type' && valueAt(issue.path) === undefined) {
      return [{ path: issue.path, message: `required: expected ${issue.expected}` }];
    }
    return [{ path: issue.path, message: issue.message }];
  });
}

export const keyPath = (path: PropertyKey[]) => path.map(String).join('.') || '(root)';

/** One line per problem: `key.path: what was expected`. */
export function formatIssues(error: z.ZodError, input: unknown, source = 'config'): string {
  const lines = describeIssues(error, input).map(({ path, message }) => `  ${keyPath(path)}: ${message}`);
  return `${source} is invalid:\n${lines.join('\n')}`;
}

export function parseRunConfig(input: unknown, source = 'config'): RunConfig {
  const parsed = RunConfigSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error, input, source));
  return parsed.data;
}
