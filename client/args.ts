import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../core/config.js';
import { isVerb, OVERVIEW, refusal, type VerbName, verbHelp, VERBS } from './verbs.js';

/** A command line the verb does not take; the CLI answers it with the verb's usage (exit 2). */
export class UsageError extends ConfigError {
  override name = 'UsageError';
}

/** Node's parser's refusals, in the product's words (its own name the flag and then explain `--`). */
function explain(err: { code?: string; message: string }): string {
  const flag = /'(-[^' ]+)/.exec(err.message)?.[1] ?? 'an option';
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${flag}`;
  if (/argument missing/.test(err.message)) return `${flag} needs a value`;
  if (/does not take an argument/.test(err.message)) return `${flag} takes no value`;
  return `cannot read the options: ${flag}`;
}

const help = { type: 'boolean', short: 'h' } as const;

type Options = NonNullable<ParseArgsConfig['options']>;

function parse<O extends Options>(options: O, args: string[]) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (!code?.startsWith('ERR_PARSE_ARGS')) throw err;
    throw new UsageError(explain(err as Error));
  }
}

/** The verb's flags (client/verbs.ts), `--help`/`-h` and positional arguments; an unknown flag is a UsageError. */
export const commandArgs = <V extends VerbName>(verb: V, args: string[]) =>
  parse<(typeof VERBS)[V]['flags'] & { help: typeof help } & Options>({ ...VERBS[verb].flags, help }, args);

/** What the command line asks: a text to print and the exit code, or a verb to run. */
export type CommandLine =
  { exit: 0 | 2; text: string } | { verb: VerbName; rest: string[]; positionals: string[] };

/**
 * `evolve --help`, `evolve help <verb>`, `evolve <verb> --help` and every verb's flags are answered
 * here, before anything connects; the handlers then take the values they use.
 */
export function readCommandLine([word, ...rest]: string[]): CommandLine {
  const unknown = (w: string) => ({
    exit: 2 as const,
    text: `evolve: there is no command "${w}"\n\n${OVERVIEW}`,
  });
  if (word === undefined || word === 'help' || word === '--help' || word === '-h') {
    const verb = rest[0];
    if (verb === undefined) return { exit: 0, text: OVERVIEW };
    return isVerb(verb) ? { exit: 0, text: verbHelp(verb) } : unknown(verb);
  }
  if (!isVerb(word)) return unknown(word);
  try {
    const { values, positionals } = commandArgs(word, rest);
    if (values.help) return { exit: 0, text: verbHelp(word) };
    return { verb: word, rest, positionals };
  } catch (err) {
    if (err instanceof UsageError) return { exit: 2, text: refusal(word, err.message) };
    throw err;
  }
}
