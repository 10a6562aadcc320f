import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { arithmeticStream } from '../core/arithmetic.js';
import { canonicalJson } from '../core/canonical-json.js';
import { ConfigError, parseRunConfig, RunConfigSchema, type PromptSource } from '../core/config.js';
import { iterationSlice, normalisedPrompt } from '../core/prompt-slices.js';
import type { Manifest, PromptRecord } from '../core/records.js';
import type { LoadPromptsInput, ValidatedConfig } from '../core/steps.js';
import { DataError, exists, writeAtomic } from '../storage/files.js';
import { readManifest } from '../storage/manifests.js';
import { writingJsonl } from '../storage/jsonl-writer.js';
import { streamPromptFile } from '../storage/benchmarks/loaders.js';
import { checkPromptPools } from '../storage/prompt-pools.js';

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
  await checkPromptPools(config, 'workflow input');
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
 * A source's prompts: generated (seeded by the iteration for fresh ones) or read, then sliced per
 * iteration. A file is streamed, never held: a slice counts the pool in a first pass and keeps only its
 * own rows in a second, so memory grows with perIteration, not with the file.
 */
async function* sourcePrompts(
  source: PromptSource,
  seedOffset: number,
  iteration: number,
  stats: Record<string, number>,
): AsyncGenerator<PromptRecord> {
  if (source.kind === 'arithmetic') {
    yield* arithmeticStream(source.count, source.seed + seedOffset, source.maxOperand, 'arith', source.ask);
    return;
  }
  if (source.perIteration === undefined) {
    yield* streamPromptFile(source);
    return;
  }
  let poolSize = 0;
  const counted = streamPromptFile(source);
  while (!(await counted.next()).done) poolSize++;
  const seed = source.seed ?? 0;
  let slice;
  try {
    slice = iterationSlice(poolSize, { perIteration: source.perIteration, seed }, iteration);
  } catch (err) {
    throw new DataError(`${source.path}: iteration ${iteration}: ${(err as Error).message}`);
  }
  Object.assign(stats, { poolSize, sliceStart: slice.start, sliceEnd: slice.end, sliceSeed: seed });
  // Row number -> its place in the slice, which is in shuffled order.
  const place = new Map(slice.rows.map((row, i) => [row, i]));
  const rows: PromptRecord[] = [];
  let row = 0;
  for await (const p of streamPromptFile(source)) {
    const i = place.get(row++);
    if (i !== undefined) rows[i] = p;
  }
  if (row !== poolSize)
    throw new DataError(`${source.path}: had ${poolSize} prompts, then ${row}: it changed while it was read`);
  yield* rows;
}

/** The normalised texts of every prompt of `sources` (the evaluation prompts and suites). */
async function promptTexts(sources: PromptSource[]): Promise<Set<string>> {
  const texts = new Set<string>();
  for (const source of sources)
    for await (const p of sourcePrompts(source, 0, 0, {})) texts.add(normalisedPrompt(p.prompt));
  return texts;
}

/**
 * Materialises the prompts of one iteration as an artifact; an iteration offsets generator seeds for
 * fresh prompts and takes its own slice of a file source with perIteration (its ids are the rows).
 * Prompts whose normalised text is also in `exclude` (the evaluation prompts and suites) are dropped
 * and counted as `droppedContaminated`: a model is never trained on what it is evaluated on. Rows are
 * written as they are produced, one source at a time.
 */
export async function loadPrompts(input: LoadPromptsInput & { seedOffset: number }): Promise<Manifest> {
  const out = join(input.scope.dir, 'prompts.jsonl');
  const existing = await readManifest(out);
  if (existing) return existing;
  const started = Date.now();
  const held = input.exclude ? await promptTexts(input.exclude) : null;
  return writingJsonl({ out }, async ({ out: writer }) => {
    const seen = new Set<string>();
    const stats: Record<string, number> = { withAnswer: 0 };
    if (held) stats.droppedContaminated = 0;
    for (const source of input.sources) {
      for await (const p of sourcePrompts(source, input.seedOffset, input.scope.iteration, stats)) {
        if (seen.has(p.id))
          throw new DataError(`prompt id "${p.id}" appears twice across ${input.sources.length} source(s)`);
        seen.add(p.id);
        if (held?.has(normalisedPrompt(p.prompt))) {
          stats.droppedContaminated!++;
          continue;
        }
        if (p.answer !== undefined) stats.withAnswer!++;
        await writer.write(p);
      }
    }
    return writer.finish(
      'prompt',
      { step: 'prompts', runId: input.scope.runId, iteration: input.scope.iteration },
      { stats, wallMs: Date.now() - started },
    );
  });
}
