import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Refinement } from '../core/config.js';
import { PreferenceRowSchema, type Manifest, type Message, type SftRecord } from '../core/records.js';
import type { StepScope } from '../core/steps.js';
import { refinementContext } from '../core/templates.js';
import { DataError } from '../storage/files.js';
import { readJsonl } from '../storage/jsonl.js';
import { writingJsonl } from '../storage/jsonl-writer.js';
import { reusableOutput, stepKey } from '../storage/reuse.js';

export interface BuildSftSetInput {
  scope: StepScope;
  /** trainer.sft.dataset: JSONL of (prompt, chosen, rejected) rows. */
  dataset: string;
  refinement: Refinement;
}

/** c(x, y_l, z) for a conversation x: its earlier turns, then the refinement context of its last prompt. */
const refinementOf = (prompt: Message[], rejected: string, refinement: Refinement): Message[] => [
  ...prompt.slice(0, -1),
  ...refinementContext(prompt.at(-1)!.content, rejected, refinement),
];

/**
 * Stage 0 of method.md from an external preference set: each (x, y_w, y_l) becomes the two SFT rows
 * x -> y_w and c(x, y_l, z) -> y_w, written to sft.jsonl. Every row is validated first (file:line and the
 * field); the output is reused while the file and the refinement template are unchanged.
 */
export async function buildSftSet(input: BuildSftSetInput): Promise<Manifest> {
  // Hashed as it streams: a preference set may be far bigger than the heap, and its rows stream too.
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(input.dataset)) hash.update(chunk as Buffer);
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    throw new DataError(
      code === 'ENOENT'
        ? `trainer.sft.dataset: ${input.dataset} not found`
        : `trainer.sft.dataset: ${input.dataset} cannot be read (${message})`,
    );
  }
  const sha256 = hash.digest('hex');
  const key = stepKey('sft-set', [sha256], { refinement: input.refinement });
  return reusableOutput(input.scope, key, async () => {
    const started = Date.now();
    return writingJsonl({ out: join(input.scope.dir, 'sft.jsonl') }, async ({ out }) => {
      let triples = 0;
      for await (const row of readJsonl(input.dataset, PreferenceRowSchema)) {
        // The file's content and row, not its path: the output must follow from the key alone, or a copy
        // of the same file elsewhere gives another sft.jsonl and the SFT it feeds is not reused.
        const sourceId = `${sha256.slice(0, 16)}:${++triples}`;
        const base = { promptId: `stage0-${triples}`, completion: row.chosen, sourceId };
        const rows: SftRecord[] = [
          { ...base, kind: 'direct', prompt: row.prompt },
          {
            ...base,
            kind: 'refinement',
            prompt: refinementOf(row.prompt, row.rejected[0]!.content, input.refinement),
          },
        ];
        for (const r of rows) await out.write(r);
      }
      if (triples === 0) throw new DataError(`trainer.sft.dataset: ${input.dataset} has no rows`);
      const producedBy = { step: 'sft-set', runId: input.scope.runId, iteration: input.scope.iteration };
      return out.finish('sft', producedBy, {
        stats: { triples, sftRows: 2 * triples },
        wallMs: Date.now() - started,
      });
    });
  });
}
