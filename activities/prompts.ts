import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { arithmeticStream } from '../core/arithmetic.js';
import { canonicalJson } from '../core/canonical-json.js';
import { ConfigError, parseRunConfig, RunConfigSchema } from '../core/config.js';
import type { Manifest } from '../core/records.js';
import type { LoadPromptsInput, ValidatedConfig } from '../core/steps.js';
import { DataError, exists, readManifest, writingJsonl, writeAtomic } from './artifacts.js';
import { readPromptFile } from './benchmarks/loaders.js';

export function configHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

/**
 * The workflow's first step: the same zod schema the CLI uses, so a Temporal CLI start is checked too.
 * It then claims `<artifactRoot>/<runId>/config.json`: a restarted or reset run with the same config
 * reuses its finished artifacts, while a different config under the same run id is refused, because
 * reusing outputs made with other parameters would silently corrupt the run: a new run with
 * `reuseFrom` (evolve run --resume-from) keeps the steps whose inputs did not change. A config
 * changed by the run's own `updateConfig` (`amended`) replaces the claim instead.
 */
export async function validateConfig(
  input: unknown,
  { amended = false }: { amended?: boolean } = {},
): Promise<ValidatedConfig> {
  const config = parseRunConfig(input, 'workflow input');
  const hash = configHash(config);
  for (const [i, run] of (config.reuseFrom ?? []).entries()) {
    if (run === config.runId || !(await exists(join(config.artifactRoot, run, 'config.json'))))
      throw new ConfigError(
        `reuseFrom.${i}: "${run}" is not an earlier run under ${config.artifactRoot} (no ${run}/config.json)`,
      );
  }
  const claim = join(config.artifactRoot, config.runId, 'config.json');
  if (!amended && (await exists(claim))) {
    // Parsed again: keys the schema gained since (with their defaults) do not make the same config differ.
    const claimed: unknown = JSON.parse(await readFile(claim, 'utf8'));
    const reparsed = RunConfigSchema.safeParse(claimed);
    const previous = configHash(reparsed.success ? reparsed.data : claimed);
    if (previous !== hash) {
      throw new ConfigError(
        `run id "${config.runId}" already has artifacts made with another config (${claim}, hash ${previous}, now ${hash}): choose a new runId`,
      );
    }
  } else {
    await writeAtomic(claim, JSON.stringify(config, null, 2) + '\n');
  }
  return { config, configHash: hash };
}

/**
 * Materialises the prompts of one iteration as an artifact; an iteration offsets generator seeds for
 * fresh prompts. Rows are written as they are produced, one source at a time.
 */
export async function loadPrompts(input: LoadPromptsInput & { seedOffset: number }): Promise<Manifest> {
  const out = join(input.scope.dir, 'prompts.jsonl');
  const existing = await readManifest(out);
  if (existing) return existing;
  const started = Date.now();
  return writingJsonl({ out }, async ({ out: writer }) => {
    const seen = new Set<string>();
    let withAnswer = 0;
    for (const source of input.sources) {
      const prompts =
        source.kind === 'arithmetic'
          ? arithmeticStream(source.count, source.seed + input.seedOffset, source.maxOperand)
          : await readPromptFile(source);
      for (const p of prompts) {
        if (seen.has(p.id))
          throw new DataError(`prompt id "${p.id}" appears twice across ${input.sources.length} source(s)`);
        seen.add(p.id);
        if (p.answer !== undefined) withAnswer++;
        await writer.write(p);
      }
    }
    return writer.finish(
      'prompt',
      { step: 'prompts', runId: input.scope.runId, iteration: input.scope.iteration },
      { stats: { withAnswer }, wallMs: Date.now() - started },
    );
  });
}
