import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { arithmeticProblems } from '../core/arithmetic.js';
import { parseRunConfig } from '../core/config.js';
import { PromptRecordSchema, type Manifest, type PromptRecord } from '../core/records.js';
import type { LoadPromptsInput, ValidatedConfig } from '../core/steps.js';
import { DataError, readAll, readManifest, writeJsonlWithManifest } from './artifacts.js';

/** Key order must not change the hash of a config. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function configHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

/** The workflow's first step: the same zod schema the CLI uses, so a Temporal CLI start is checked too. */
export async function validateConfig(input: unknown): Promise<ValidatedConfig> {
  const config = parseRunConfig(input, 'workflow input');
  return { config, configHash: configHash(config) };
}

/** Materialises the prompts of one iteration as an artifact; an iteration offsets generator seeds for fresh prompts. */
export async function loadPrompts(input: LoadPromptsInput & { seedOffset: number }): Promise<Manifest> {
  const out = join(input.scope.dir, 'prompts.jsonl');
  const existing = await readManifest(out);
  if (existing) return existing;
  const started = Date.now();
  const prompts: PromptRecord[] = [];
  for (const source of input.sources) {
    if (source.kind === 'arithmetic') {
      prompts.push(...arithmeticProblems(source.count, source.seed + input.seedOffset, source.maxOperand));
    } else {
      const rows = await readAll(source.path, PromptRecordSchema).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT')
          throw new DataError(`prompt file not found: ${source.path}`);
        throw err;
      });
      prompts.push(...rows.slice(0, source.limit ?? rows.length));
    }
  }
  const seen = new Set<string>();
  for (const p of prompts) {
    if (seen.has(p.id))
      throw new DataError(`prompt id "${p.id}" appears twice across ${input.sources.length} source(s)`);
    seen.add(p.id);
  }
  return writeJsonlWithManifest(
    out,
    'prompt',
    prompts,
    { step: 'prompts', runId: input.scope.runId, iteration: input.scope.iteration },
    {
      stats: { withAnswer: prompts.filter((p) => p.answer !== undefined).length },
      wallMs: Date.now() - started,
    },
  );
}
