import { Context } from '@temporalio/activity';
import { join } from 'node:path';
import type { Judge } from '../core/config.js';
import {
  ScoreRecordSchema,
  type GenerationRecord,
  type Manifest,
  type PromptRecord,
  type ScoreRecord,
} from '../core/records.js';
import type { JudgeShardInput, ModelRef } from '../core/steps.js';
import { parseJudgeScore, verifyNumeric } from '../core/verify.js';
import { seedFor } from '../core/templates.js';
import { journalledStep, readManifestRows } from './artifacts.js';
import { withHeartbeat } from './heartbeat.js';
import { reusableOutput, stepKey, without } from './reuse.js';
import { mapLimit } from '../core/concurrency.js';
import { shardPrompts } from './generate.js';
import type { ChatFn } from './inference.js';

export interface JudgeDeps {
  chatFor: (model: ModelRef) => ChatFn;
}

function judgePrompt(judge: Judge['llm'], prompt: string, response: string): string {
  return `${judge.rubric}\n\n[Question]\n${prompt}\n\n[Response]\n${response}\n\nScore (1-${judge.maxScore}):`;
}

export function createJudgeActivities({ chatFor }: JudgeDeps) {
  /** Pointwise LLM judge: a reply without a parseable score is asked again, then recorded as such. */
  async function llmScore(
    judge: Judge['llm'],
    prompt: PromptRecord,
    g: GenerationRecord,
    signal: AbortSignal,
  ) {
    const chat = chatFor({ endpoint: judge.endpoint, model: judge.model });
    let raw = '';
    for (let attempt = 0; attempt < judge.attempts; attempt++) {
      const reply = await chat({
        model: judge.model,
        messages: [{ role: 'user', content: judgePrompt(judge, prompt.prompt, g.text) }],
        temperature: attempt === 0 ? 0 : 0.7,
        maxTokens: judge.maxTokens,
        seed: seedFor(attempt, g.id, 0, 0),
        signal,
      });
      raw = reply.text;
      const score = parseJudgeScore(raw, judge.maxScore);
      if (score !== null) return { status: 'ok' as const, score, extracted: String(score), raw };
    }
    return { status: 'unparseable' as const, score: null, extracted: null, raw };
  }

  return {
    /** Scores every response of a shard: the verifier where a gold answer exists, the LLM judge otherwise. */
    async judgeShard(input: JudgeShardInput): Promise<Manifest> {
      const ctx = Context.current();
      const key = stepKey('judge', [input.shard.prompts.sha256, ...input.generations.map((m) => m.sha256)], {
        shard: [input.shard.start, input.shard.end],
        judge: { ...input.judge, llm: without(input.judge.llm, 'endpoint') },
      });
      const step = {
        out: join(input.scope.dir, `shard-${input.shard.index}.jsonl`),
        key,
        schema: 'score' as const,
        rowSchema: ScoreRecordSchema,
        keyOf: (s: ScoreRecord) => s.generationId,
        order: (a: ScoreRecord, b: ScoreRecord) => a.generationId.localeCompare(b.generationId),
        stats: (rows: ScoreRecord[]) => ({
          ok: rows.filter((r) => r.status === 'ok').length,
          unparseable: rows.filter((r) => r.status === 'unparseable').length,
          verifier: rows.filter((r) => r.judge.startsWith('verifier')).length,
        }),
        producedBy: {
          step: 'judge',
          runId: input.scope.runId,
          iteration: input.scope.iteration,
          shard: input.shard.index,
        },
      };
      return reusableOutput(input.scope, key, () =>
        journalledStep(step, async (journal) => {
          const prompts = new Map((await shardPrompts(input.shard)).map((p) => [p.id, p]));
          const generations = (
            await Promise.all(input.generations.map((m) => readManifestRows(m, 'generation')))
          ).flat();
          await withHeartbeat(
            () => ({ done: journal.rows.size }),
            () =>
              mapLimit(generations, input.judge.llm.endpoint.maxConcurrency, async (g) => {
                if (journal.has(g.id)) return;
                const prompt = prompts.get(g.promptId);
                if (!prompt)
                  throw new Error(
                    `${input.generations[0]?.uri}: generation for unknown prompt ${g.promptId}`,
                  );
                const base = { generationId: g.id, promptId: g.promptId, chain: g.chain, step: g.step };
                let score: ScoreRecord;
                if (prompt.answer !== undefined) {
                  const verdict = verifyNumeric(g.text, prompt.answer);
                  score = {
                    ...base,
                    judge: `verifier:${input.judge.verifier}:${verdict.extractor ?? 'none'}`,
                    status: 'ok',
                    score: verdict.correct ? 1 : 0,
                    extracted: verdict.extracted,
                    raw: null,
                  };
                } else {
                  const judged = await llmScore(input.judge.llm, prompt, g, ctx.cancellationSignal);
                  score = { ...base, judge: `llm:pointwise:${input.judge.llm.model}`, ...judged };
                }
                await journal.append(score);
              }),
          );
        }),
      );
    },
  };
}
