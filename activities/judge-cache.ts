import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeAtomic } from '../storage/files.js';

export const JudgeOutcomeSchema = z.strictObject({
  status: z.enum(['ok', 'unparseable', 'error']),
  score: z.number().nullable(),
  extracted: z.string().nullable(),
  raw: z.string().nullable(),
});
export type JudgeOutcome = z.infer<typeof JudgeOutcomeSchema>;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Verdicts of one judge, keyed by (judge identity, prompt, response hash): a file per verdict, written
 * atomically, so that concurrent shards and workers share it and a re-run pays for nothing it has
 * already asked. Only readable verdicts are kept; a failed ask is asked again next time.
 */
export class JudgeCache {
  readonly dir: string;
  hits = 0;

  constructor(root: string, identity: string) {
    this.dir = join(root, sha256(identity).slice(0, 16));
  }

  /** A verdict depends on the prompt and on one response (pointwise) or two (pairwise). */
  keyOf(prompt: string, ...responses: string[]): string {
    return sha256([prompt, ...responses.map(sha256)].join('\u0000'));
  }

  private path(key: string) {
    return join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  private readonly inFlight = new Map<string, Promise<JudgeOutcome>>();

  /** The cached verdict, or `ask`'s; identical asks in flight (the same response twice) share one. */
  through(key: string, ask: () => Promise<JudgeOutcome>): Promise<JudgeOutcome> {
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = (async () => {
        const cached = await this.get(key);
        if (cached) return cached;
        const outcome = await ask();
        if (outcome.status === 'ok') await writeAtomic(this.path(key), JSON.stringify(outcome));
        return outcome;
      })().finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async get(key: string): Promise<JudgeOutcome | null> {
    const text = await readFile(this.path(key), 'utf8').catch(() => null);
    const parsed = text === null ? null : JudgeOutcomeSchema.safeParse(safeJson(text));
    if (!parsed?.success) return null;
    this.hits++;
    return parsed.data;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
