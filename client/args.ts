import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command's flags and positional arguments; an unknown flag is refused (node's strict parsing). */
export const commandArgs = <const O extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: O,
) => parseArgs({ args, options, allowPositionals: true, strict: true });
