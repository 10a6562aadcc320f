import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mapLimit } from '../core/concurrency.js';
import { labelPreference, parseVerdictLabel, type Verdict } from '../core/judge-replies.js';
import { codePointLength } from '../core/metrics/alpaca-eval.js';
import { mulberry32 } from '../core/random.js';
import { VerdictRecordSchema, type Manifest, type VerdictRecord } from '../core/records.js';
import type { JudgeSuiteShardInput, ModelRef, SummarizeSuiteInput } from '../core/steps.js';
import {
  SuiteSummarySchema,
  accuracyRound,
  alpacaEvalRound,
  arenaHardRound,
  headlineOf,
  keptAnswer,
  type SuiteRound,
  type SuiteSummary,
} from '../core/suites.js';
import { fnv1a64, seedFor } from '../core/templates.js';
import { verifiers } from '../core/verify.js';
import { DataError, exists, writeAtomic } from '../storage/files.js';
import { journalledStep, shardOutput } from './journalled-step.js';
import { readManifestRows } from '../storage/manifests.js';
import { readReferenceAnswers } from '../storage/benchmarks/loaders.js';
import { readInstructionDifficulty } from '../storage/benchmarks/official-results.js';
import { shardPrompts } from './generate.js';
import { withHeartbeat } from './heartbeat.js';
import type { ChatFn } from './inference.js';
import { askUntilReadable } from './judge-adapter.js';
import { LABELS, labelPrompt, verdictPrompt } from './judge-llm.js';
import { fileSha256, indexHooks, reusableOutput, stepKey, without } from '../storage/reuse.js';
import type { ShardLease } from './lease.js';
import { readScoredByPrompt } from './scored.js';

type PairwiseSuite = JudgeSuiteShardInput['suite'];
type Judged = Pick<VerdictRecord, 'status' | 'swapped' | 'draw' | 'preference' | 'games' | 'raw'>;

/** The seeded draw of a row: reproducible from (suite seed, prompt, round), on any worker. */
const drawFor = (seed: number, promptId: string, round: number) =>
  mulberry32(parseInt(fnv1a64(`${seed}/${promptId}/${round}`).slice(0, 8), 16))();

/**
 * AlpacaEval: one game, the order drawn per row. Unswapped, the reference is output m and the model
 * output M, so the preference is 1 + P(M); swapped, the judge's preference maps to 3 - pref.
 */
async function alpacaGame(
  ask: AskFn,
  suite: PairwiseSuite,
  key: string,
  row: { prompt: string; answer: string; reference: string; draw: number },
): Promise<Judged> {
  const swapped = row.draw < 0.5;
  const [first, second] = swapped ? [row.answer, row.reference] : [row.reference, row.answer];
  const outcome = await askUntilReadable(suite.judge.attempts, async (attempt) => {
    const reply = await ask(labelPrompt(suite.judge, row.prompt, first, second), key, attempt, 5);
    const top = reply.firstTokenLogprobs ?? [];
    return { raw: JSON.stringify({ text: reply.text, top }), score: labelPreference(top, LABELS) };
  });
  const pSecond = outcome.score;
  return {
    status: outcome.status,
    swapped,
    draw: row.draw,
    preference: pSecond === null ? null : swapped ? 2 - pSecond : 1 + pSecond,
    games: [],
    raw: outcome.raw,
  };
}

/** Arena-Hard: two games, the baseline as assistant A first, then the model as A. */
async function arenaGames(
  ask: AskFn,
  suite: PairwiseSuite,
  key: string,
  row: { prompt: string; answer: string; reference: string },
): Promise<Judged> {
  const games: (Verdict | null)[] = [];
  const raws: string[] = [];
  let status: VerdictRecord['status'] = 'ok';
  for (const [game, [a, b]] of [
    [row.reference, row.answer],
    [row.answer, row.reference],
  ].entries()) {
    const outcome = await askUntilReadable(suite.judge.attempts, async (attempt) => {
      const reply = await ask(verdictPrompt(suite.judge, row.prompt, a!, b!), `${key}/${game}`, attempt);
      const label = parseVerdictLabel(reply.text);
      return { raw: reply.text, score: label === null ? null : 1, extracted: label ?? undefined };
    });
    games.push(outcome.status === 'ok' ? parseVerdictLabel(outcome.raw ?? '') : null);
    raws.push(outcome.raw ?? '');
    if (outcome.status !== 'ok' && status === 'ok') status = outcome.status;
  }
  return { status, swapped: null, draw: null, preference: null, games, raw: raws.join('\n---\n') };
}

type AskFn = (content: string, key: string, attempt: number, topLogprobs?: number) => ReturnType<ChatFn>;

export function createSuiteActivities(deps: { chatFor: (model: ModelRef) => ChatFn }) {
  return {
    /**
     * Judges a shard of a pairwise suite: for each prompt and round, the answer the strategy kept
     * against the reference (AlpacaEval) or baseline (Arena-Hard). Rows are journalled, so a retried
     * attempt asks only for the verdicts it does not have yet.
     */
    async judgeSuiteShard(input: JudgeSuiteShardInput): Promise<Manifest> {
      const { suite } = input;
      const referenceFile = suite.kind === 'alpaca-eval' ? suite.prompts : suite.baseline;
      const key = stepKey(
        'suite-judge',
        [
          input.shard.prompts.sha256,
          ...input.generations.map((m) => m.sha256),
          ...input.scores.map((m) => m.sha256),
          await fileSha256(referenceFile).catch(() => {
            throw new DataError(`reference answer file not found: ${referenceFile}`);
          }),
        ],
        {
          shard: [input.shard.start, input.shard.end],
          suite: { ...without(suite, 'judge', 'prompts'), judge: without(suite.judge, 'endpoint') },
          rounds: input.rounds,
          strategy: input.strategy,
        },
      );
      return reusableOutput(input.scope, key, async () => {
        // Set once the shard's lease is held (journalledStep): requests follow it, not the raw cancellation.
        let lease: ShardLease | undefined;
        const prompts = await shardPrompts(input.shard);
        const references = await readReferenceAnswers(suite);
        const byPrompt = await readScoredByPrompt(input.generations, input.scores);
        const chat = deps.chatFor({ endpoint: suite.judge.endpoint, model: suite.judge.model });
        const maxTokens = suite.judge.maxTokens ?? (suite.kind === 'alpaca-eval' ? 8 : 4096);
        const ask: AskFn = (content, itemKey, attempt, topLogprobs) =>
          chat({
            model: suite.judge.model,
            messages: [{ role: 'user', content }],
            // A first unreadable reply is asked again with some temperature: greedy decoding would repeat it.
            temperature: attempt === 0 ? 0 : 0.7,
            maxTokens,
            seed: seedFor(attempt, itemKey, 0, 0),
            signal: lease?.abortSignal,
            stop: lease?.stopSignal,
            ...(topLogprobs ? { topLogprobs } : {}),
          });
        const judge = `llm:${suite.kind}:${suite.judge.model}`;
        const work = prompts.flatMap((prompt) =>
          Array.from({ length: input.rounds + 1 }, (_, round) => ({ prompt, round })),
        );
        const rowKey = (r: Pick<VerdictRecord, 'promptId' | 'round'>) => `${r.promptId}/${r.round}`;
        const step = {
          ...shardOutput(input, 'suite-judge'),
          key,
          ...indexHooks(input.scope, key),
          schema: 'verdict' as const,
          rowSchema: VerdictRecordSchema,
          keyOf: rowKey,
          order: (a: VerdictRecord, b: VerdictRecord) =>
            a.promptId.localeCompare(b.promptId) || a.round - b.round,
          stats: (rows: VerdictRecord[]) =>
            Object.fromEntries(
              VerdictRecordSchema.shape.status.options.map((s) => [
                s,
                rows.filter((r) => r.status === s).length,
              ]),
            ),
        };
        return journalledStep(step, (journal, held) => {
          lease = held;
          return withHeartbeat(
            () => ({ done: journal.size, total: work.length }),
            () =>
              mapLimit(work, suite.judge.endpoint.maxConcurrency, async ({ prompt, round }) => {
                if (journal.has(rowKey({ promptId: prompt.id, round }))) return;
                held.check();
                const reference = references.get(prompt.id);
                if (reference === undefined)
                  throw new DataError(`${referenceFile}: no reference answer for prompt "${prompt.id}"`);
                const kept = keptAnswer(byPrompt.get(prompt.id) ?? [], input.strategy, round);
                const base = {
                  promptId: prompt.id,
                  round,
                  generationId: kept?.id ?? null,
                  judge,
                  modelLength: kept ? codePointLength(kept.text) : null,
                  referenceLength: codePointLength(reference),
                };
                if (!kept) {
                  const none = { preference: null, swapped: null, draw: null, raw: null };
                  const games = suite.kind === 'arena-hard' ? [null, null] : [];
                  return journal.append({ ...base, status: 'missing', ...none, games });
                }
                const item = { prompt: prompt.prompt, answer: kept.text, reference };
                const itemKey = `${suite.name}/${kept.id}`;
                const judged =
                  suite.kind === 'alpaca-eval'
                    ? await alpacaGame(ask, suite, itemKey, {
                        ...item,
                        draw: drawFor(suite.seed, prompt.id, round),
                      })
                    : await arenaGames(ask, suite, itemKey, item);
                await journal.append({ ...base, ...judged });
              }),
          );
        });
      });
    },

    /** The suite's metrics for the direct answer and after each refinement round, into summary.json. */
    async summarizeSuite(input: SummarizeSuiteInput): Promise<SuiteSummary> {
      const out = join(input.scope.dir, 'summary.json');
      if (await exists(out)) return SuiteSummarySchema.parse(JSON.parse(await readFile(out, 'utf8')));
      const started = Date.now();
      const { suite, strategy } = input;
      const prompts = await readManifestRows(input.prompts, 'prompt');
      const rounds = Array.from({ length: input.rounds + 1 }, (_, r) => r);
      let scored: SuiteRound[];
      let judge: string;
      if (suite.kind === 'accuracy') {
        const byPrompt = await readScoredByPrompt(input.generations, input.scores);
        const verify = verifiers[suite.verifier];
        judge = `verifier:${suite.verifier}`;
        scored = rounds.map((round) => {
          const items = prompts.flatMap((p) => {
            if (p.answer === undefined)
              throw new DataError(`suite ${suite.name}: prompt "${p.id}" has no gold answer`);
            const kept = keptAnswer(byPrompt.get(p.id) ?? [], strategy, round);
            if (!kept) return [];
            const correct = verify(kept.text, p.answer).correct;
            return [{ response: kept.text, gold: p.answer, correct }];
          });
          return accuracyRound(round, items, prompts.length, suite.verifier);
        });
      } else {
        const verdicts = (
          await Promise.all(input.verdicts.map((m) => readManifestRows(m, 'verdict')))
        ).flat();
        judge = `llm:${suite.kind}:${suite.judge.model}`;
        const difficultyFile = suite.kind === 'alpaca-eval' ? suite.difficulty : undefined;
        const difficulty = difficultyFile ? await readInstructionDifficulty(difficultyFile) : undefined;
        // The official difficulties are indexed by position in the 805 instructions, as the prompt ids are.
        const difficultyOf = (promptId: string) => {
          const gamma = difficulty?.[Number(promptId.replace('alpaca-eval-', ''))];
          if (gamma === undefined)
            throw new DataError(`${difficultyFile}: no difficulty for prompt "${promptId}"`);
          return gamma;
        };
        scored = rounds.map((round) => {
          const rows = verdicts.filter((v) => v.round === round);
          return suite.kind === 'alpaca-eval'
            ? alpacaEvalRound(round, rows, difficulty && difficultyOf)
            : arenaHardRound(round, rows, { rounds: suite.bootstrapRounds, seed: suite.seed });
        });
      }
      const summary: SuiteSummary = {
        uri: out,
        name: suite.name,
        kind: suite.kind,
        prompts: prompts.length,
        headline: headlineOf(suite),
        judge,
        strategy: `${strategy.name} (N=${strategy.samples}, K=${strategy.depth}, keep ${strategy.keep})`,
        rounds: scored,
        wallMs: Date.now() - started,
      };
      await writeAtomic(out, JSON.stringify(summary, null, 2) + '\n');
      return summary;
    },
  };
}
