import OpenAI from 'openai';
import type { JudgeOutcome } from './judge-cache.js';

/** What a judge is asked about one response; `anchor` is the response it is compared with (pairwise). */
export interface JudgeItem {
  prompt: string;
  response: string;
  anchor?: string;
  /** Stable per item: seeds and presentation order derive from it, so a re-ask is reproducible. */
  key: string;
}

export interface JudgeAdapter {
  /** Written on every score row, e.g. `llm:pointwise:<model>` or `rm:vllm-classify:<model>`. */
  name: string;
  /** Everything that changes a verdict (model, prompt template, scale): the judge part of the cache key. */
  identity: string;
  pairwise: boolean;
  /** Items judged at once by this worker. */
  concurrency: number;
  judge(item: JudgeItem, signal: AbortSignal): Promise<JudgeOutcome>;
}

/** A reply that came back but said nothing usable; `raw` is kept for audit. */
export interface Reading {
  raw: string;
  score: number | null;
  extracted?: string;
}

const isTimeout = (err: unknown) =>
  err instanceof OpenAI.APIConnectionTimeoutError || (err instanceof Error && err.name === 'TimeoutError');

/**
 * Asks up to `attempts` times until a reply reads as a finite score. A reply that never does is
 * recorded as unparseable, a judge that keeps timing out as an error; neither becomes a score.
 * Other failures (server down, 5xx after the client's retries) fail the activity, which Temporal retries.
 */
export async function askUntilReadable(
  attempts: number,
  ask: (attempt: number) => Promise<Reading>,
): Promise<JudgeOutcome> {
  let last: JudgeOutcome = { status: 'error', score: null, extracted: null, raw: null };
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      const reading = await ask(attempt);
      if (reading.score !== null && Number.isFinite(reading.score)) {
        return {
          status: 'ok',
          score: reading.score,
          extracted: reading.extracted ?? String(reading.score),
          raw: reading.raw,
        };
      }
      last = { status: 'unparseable', score: null, extracted: null, raw: reading.raw };
    } catch (err) {
      if (!isTimeout(err)) throw err;
      last = { status: 'error', score: null, extracted: null, raw: `timeout: ${(err as Error).message}` };
    }
  }
  return last;
}
