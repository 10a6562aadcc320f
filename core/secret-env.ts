import { ConfigError } from './config.js';
import { secretNameProblem, type SecretKind } from './secrets.js';

/**
 * The value of the key variable `name`, checked again against the allow-list where it is read: a config
 * that reached the worker another way (an update, a hand-written workflow input) reads nothing else.
 */
export function readSecret(
  name: string,
  kind: SecretKind,
  keyPath: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const problem = secretNameProblem(name, kind, env);
  if (problem) throw new ConfigError(`${keyPath}: ${problem}`);
  return env[name];
}
