import { join } from 'node:path';
import type { Judge } from '../core/config.js';
import { forEachLimit } from '../core/concurrency.js';
import {
  ScoreRecordSchema,
  type GenerationRecord,
  type Manifest,
  type ScoreRecord,
} from '../core/records.js';
import type { JudgeShardInput, ModelRef } from '../core/steps.js';
import { verifiers } from '../core/verify.js';
import { journalledStep, shardOutput } from './journalled-step.js';
import { streamManifestRows } from '../storage/manifests.js';
import { shardPrompts } from './generate.js';
import { withHeartbeat } from './heartbeat.js';
import { indexHooks, reusableOutput, stepKey, without } from '../storage/reuse.js';
import type { ChatFn } from './inference.js';
import type { JudgeAdapter } from './judge-adapter.js';
import { JudgeCache } from './judge-cache.js';
import { llmJudge } from './judge-llm.js';
import { rewardModelJudge } from './judge-reward-model.js';

export interface JudgeDeps {
  chatFor: (model: ModelRef) => ChatFn;
  /** HTTP client of reward-model servers; tests inject faults through it. */
  fetch?: typeof fetch;
}

/** The judge of prompts without a gold answer, as configured; null when there is none (rule-based pairing). */
export function judgeAdapter(judge: Judge, deps: JudgeDeps): JudgeAdapter | null {
  if (judge.kind === 'llm' && judge.llm)
    return llmJudge(judge.llm, deps.chatFor({ endpoint: judge.llm.endpoint, model: judge.llm.model }));
  if (judge.kind === 'reward-model' && judge.rewardModel)
    return rewardModelJudge(judge.rewardModel, deps.fetch);
  return null;
}

/** A shard's responses, read as they are judged: a shard of long answers is not held in memory. */
async function* responsesOf(manifests: Manifest[]): AsyncGenerator<GenerationRecord> {
  for (const m of manifests) yield* streamManifestRows(m, 'generation');
}

/** The first answer of a prompt's first chain: what pairwise judges compare every other response with. */
async function anchorsOf(manifests: Manifest[]): Promise<Map<string, GenerationRecord>> {
  const anchors = new Map<string, GenerationRecord>();
  for await (const g of responsesOf(manifests)) {
    const current = anchors.get(g.promptId);
    if (!current || g.chain < current.chain || (g.chain === current.chain && g.step < current.step))
      anchors.set(g.promptId, g);
  }
  return anchors;
}

export function createJudgeActivities(deps: JudgeDeps) {
  return {
    /** Scores every response of a shard: the verifier where a gold answer exists, the configured judge otherwise. */
    async judgeShard(input: JudgeShardInput): Promise<Manifest> {
      // The verdicts depend on the judge's model and instructions, not on the server's address.
      const { llm, rewardModel } = input.judge;
      const key = stepKey('judge', [input.shard.prompts.sha256, ...input.generations.map((m) => m.sha256)], {
        shard: [input.shard.start, input.shard.end],
        judge: {
          ...without(input.judge, 'cacheDir'),
          llm: llm && without(llm, 'endpoint'),
          rewardModel: rewardModel && without(rewardModel, 'endpoint'),
        },
      });
      return reusableOutput(input.scope, key, async () => {
        const prompts = new Map((await shardPrompts(input.shard)).map((p) => [p.id, p]));
        const total = input.generations.reduce((n, m) => n + m.rows, 0);
        const judge = judgeAdapter(input.judge, deps);
        // scope.dir is <artifactRoot>/<runId>/iter-<t>/<phase>/judge: the default cache is shared by all runs.
        const cache =
          judge &&
          new JudgeCache(
            input.judge.cacheDir ?? join(input.scope.dir, '..', '..', '..', '..', 'judge-cache'),
            judge.identity,
          );
        const anchors = judge?.pairwise ? await anchorsOf(input.generations) : new Map();
        const verify = verifiers[input.judge.verifier];
        const count = (rows: ScoreRecord[], pred: (r: ScoreRecord) => boolean) => rows.filter(pred).length;
        const step = {
          ...shardOutput(input, 'judge'),
          key,
          ...indexHooks(input.scope, key),
          schema: 'score' as const,
          rowSchema: ScoreRecordSchema,
          keyOf: (s: ScoreRecord) => s.generationId,
          order: (a: ScoreRecord, b: ScoreRecord) => a.generationId.localeCompare(b.generationId),
          stats: (rows: ScoreRecord[]) => ({
            ok: count(rows, (r) => r.status === 'ok'),
            unparseable: count(rows, (r) => r.status === 'unparseable'),
            error: count(rows, (r) => r.status === 'error'),
            skipped: count(rows, (r) => r.status === 'skipped'),
            verifier: count(rows, (r) => r.judge.startsWith('verifier')),
            cacheHits: cache?.hits ?? 0,
          }),
        };
        return journalledStep(step, (journal, lease) =>
          withHeartbeat(
            () => ({ done: journal.size, total }),
            () =>
              forEachLimit(responsesOf(input.generations), judge?.concurrency ?? 1, async (g) => {
                if (journal.has(g.id)) return;
                const prompt = prompts.get(g.promptId);
                if (!prompt)
                  throw new Error(
                    `${input.generations[0]?.uri}: generation for unknown prompt ${g.promptId}`,
                  );
                const base = { generationId: g.id, promptId: g.promptId, chain: g.chain, step: g.step };
                if (prompt.answer !== undefined) {
                  const verdict = verify(g.text, prompt.answer);
                  return journal.append({
                    ...base,
                    judge: `verifier:${input.judge.verifier}:${verdict.extractor ?? 'none'}`,
                    status: 'ok',
                    score: verdict.correct ? 1 : 0,
                    extracted: verdict.extracted,
                    raw: verdict.equivalence ? `equivalence: ${verdict.equivalence}` : null,
                  });
                }
                if (!judge || !cache) {
                  return journal.append({
                    ...base,
                    judge: 'none',
                    status: 'skipped',
                    score: null,
                    extracted: null,
                    raw: null,
                  });
                }
                const anchor = judge.pairwise ? anchors.get(g.promptId)! : null;
                if (anchor?.id === g.id) {
                  // The anchor against itself: an even game, not worth a request.
                  return journal.append({
                    ...base,
                    judge: judge.name,
                    status: 'ok',
                    score: 0.5,
                    extracted: 'anchor',
                    raw: null,
                  });
                }
                const responses = anchor ? [g.text, anchor.text] : [g.text];
                const key = cache.keyOf(prompt.prompt, ...responses);
                lease.check();
                const outcome = await cache.through(key, () =>
                  judge.judge(
                    {
                      prompt: prompt.prompt,
                      response: g.text,
                      anchor: anchor?.text,
                      key,
                    },
                    lease.abortSignal,
                  ),
                );
                await journal.append({ ...base, judge: judge.name, ...outcome });
              }),
          ),
        );
      });
    },
  };
}
