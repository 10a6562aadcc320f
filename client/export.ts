/** `evolve export <run>`: a run's evaluation answers in an official harness's input format. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../core/config.js';
import { EXPORT_FORMATS, exportEvaluation, type ExportFormat } from '../storage/benchmarks/exporters.js';
import { commandArgs, UsageError } from './args.js';

export function optionalInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new ConfigError(`--${name}: expected a non-negative integer, got "${value}"`);
  return n;
}

/** A run id is looked up under `artifacts` ($EVOLVE_HOME/artifacts, the demo's artifactRoot) unless it is a directory. */
export function runDirectory(
  run: string,
  artifacts = join(process.env.EVOLVE_HOME ?? '.evolve', 'artifacts'),
): string {
  return existsSync(run) ? run : join(artifacts, run);
}

export async function exportCommand(argv: string[], say: (line: string) => void): Promise<number> {
  const { values, positionals } = commandArgs('export', argv);
  const run = positionals[0];
  if (!run) throw new UsageError('which run? name its id or directory');
  if (!values.out) throw new UsageError('--out: which file to write?');
  if (!(EXPORT_FORMATS as readonly string[]).includes(values.format ?? ''))
    throw new UsageError(`--format: one of ${EXPORT_FORMATS.join(', ')}`);
  const { rows, model } = await exportEvaluation({
    runDir: runDirectory(run),
    format: values.format as ExportFormat,
    out: values.out,
    iteration: optionalInt('iteration', values.iteration),
    round: optionalInt('round', values.round),
    model: values.model,
  });
  say(`wrote ${rows} ${values.format} answers of "${model}" to ${values.out}`);
  return 0;
}
