import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { log } from '@temporalio/activity';
import { mapLimit } from '../core/concurrency.js';
import { VERDICTS, type Verdict } from '../core/judge-replies.js';
import { codePointLength } from '../core/metrics/alpaca-eval.js';
import {
  annotatorMessages,
  annotatorParams,
  isSwitched,
  logprobPreference,
  switchDraw,
  unswitch,
} from './official/alpaca-eval.js';
import { playGame, type Game } from './official/arena-hard.js';
import type { Annotator, JudgeConfig } from '../core/official-judges.js';
import { VerdictRecordSchema, type Manifest, type Message, type VerdictRecord } from '../core/records.js';
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
import { verifiers } from '../core/verify.js';
import { DataError, exists, writeAtomic } from '../storage/files.js';
import { journalledStep, shardOutput } from './journalled-step.js';
import { readManifestRows } from '../storage/manifests.js';
import { readReferenceAnswers, type ReferenceAnswer } from '../storage/benchmarks/loaders.js';
import { loadAnnotator, loadJudgeConfig } from '../storage/benchmarks/official-configs.js';
import { readInstructionDifficulty } from '../storage/benchmarks/official-results.js';
import { shardPrompts } from './generate.js';
import { withHeartbeat } from './heartbeat.js';
import type { ChatFn, ChatReply } from './inference.js';
import { fileSha256, indexHooks, reusableOutput, stepKey, without } from '../storage/reuse.js';
import type { ShardLease } from './lease.js';
import { readScoredByPrompt } from './scored.js';

type PairwiseSuite = JudgeSuiteShardInput['suite'];
type Judged = Pick<VerdictRecord, 'status' | 'swapped' | 'draw' | 'preference' | 'games' | 'raw'>;
export type Ask = (messages: Message[], params: Record<string, unknown>) => Promise<ChatReply>;
type Row = { prompt: string; answer: string; reference: ReferenceAnswer };

/** A suite's official judge, loaded from its own files, with the model sent and the label it gets. */
export type OfficialJudge =
  | { kind: 'alpaca-eval'; annotator: Annotator; model: string; label: string }
  | { kind: 'arena-hard'; config: JudgeConfig; model: string; label: string };

/** The official judge of a pairwise suite; a model other than the official one is labelled as such. */
export async function officialJudge(suite: PairwiseSuite): Promise<OfficialJudge> {
  const label = (name: string, official: string, model: string) =>
    `official ${name}, judge ${model}` +
    (model === official ? '' : ` (not the leaderboard's judge ${official})`);
  if (suite.kind === 'alpaca-eval') {
    const annotator = await loadAnnotator(suite.judge.annotator);
    const official = annotator.config.completions_kwargs.model_name;
    const model = suite.judge.model ?? official;
    return { kind: suite.kind, annotator, model, label: label(annotator.name, official, model) };
  }
  const config = await loadJudgeConfig(suite.judge.config);
  const model = suite.judge.model ?? config.judge_model;
  return {
    kind: suite.kind,
    config,
    model,
    label: label(`${config.bench_name ?? 'arena-hard'} judge`, config.judge_model, model),
  };
}

/**
 * AlpacaEval 2 with the official annotator: output_1 is the reference and output_2 the model's, shown
 * switched where alpaca_eval's draw says so; equal outputs get 1.5 without a request, as the harness
 * does. The annotations.json row (without generator_2, which names the round) is kept in `raw`.
 */
async function alpacaGame(
  ask: Ask,
  judge: Extract<OfficialJudge, { kind: 'alpaca-eval' }>,
  seed: number,
  row: Row,
): Promise<Judged> {
  const { annotator } = judge;
  const draw = switchDraw(row.prompt, seed);
  const swapped = isSwitched(draw);
  const annotation = {
    instruction: row.prompt,
    output_1: row.reference.answer,
    generator_1: row.reference.generator ?? null,
    dataset: row.reference.dataset ?? null,
    output_2: row.answer,
    annotator: annotator.name,
  };
  let preference = 1.5;
  let rawCompletion: Record<string, unknown> | null = null;
  if (row.answer !== row.reference.answer) {
    const messages = annotatorMessages(annotator, annotation, swapped);
    const reply = await ask(messages, annotatorParams(annotator));
    rawCompletion = { ...reply.choice, text: reply.text };
    const content = (reply.choice?.logprobs as { content?: [] } | null | undefined)?.content;
    const shown = logprobPreference(annotator, content);
    preference = unswitch(shown, swapped) ?? NaN;
  }
  // annotations.json holds what pandas' to_json writes: 10 decimals; the metrics read the same value.
  const ok = Number.isFinite(preference);
  if (ok) preference = Number(preference.toFixed(10));
  return {
    status: ok ? 'ok' : 'unparseable',
    swapped,
    draw,
    preference: ok ? preference : null,
    games: [],
    raw: JSON.stringify({ ...annotation, preference: ok ? preference : null, raw_completion: rawCompletion }),
  };
}

/** Arena-Hard with the official judge: both games, the baseline as assistant A first, as gen_judgment.py plays them. */
async function arenaGames(
  ask: Ask,
  judge: Extract<OfficialJudge, { kind: 'arena-hard' }>,
  row: Row,
): Promise<Judged> {
  const { config } = judge;
  const params = { temperature: config.temperature, max_tokens: config.max_tokens };
  const games: Game[] = [];
  for (const game of [0, 1] as const)
    games.push(
      await playGame(
        config,
        { question: row.prompt, answer: row.answer, baseline: row.reference.answer },
        game,
        async (messages) => (await ask(messages, params)).text,
      ),
    );
  const verdicts = games.map((g) =>
    (VERDICTS as readonly (string | null)[]).includes(g.score) ? (g.score as Verdict) : null,
  );
  return {
    status: verdicts.every((v) => v !== null) ? 'ok' : 'unparseable',
    swapped: null,
    draw: null,
    preference: null,
    games: verdicts,
    raw: JSON.stringify({ judge: config.judge_model, games }),
  };
}

/** One prompt and round judged by the suite's official judge. */
export const judgeRow = (ask: Ask, judge: OfficialJudge, seed: number, row: Row): Promise<Judged> =>
  judge.kind === 'alpaca-eval' ? alpacaGame(ask, judge, seed, row) : arenaGames(ask, judge, row);

/** The generator name of a round's answers in the official files: `iter-<t>-r<round>`. */
const roundModel = (suiteDir: string, round: number) => `${basename(dirname(suiteDir))}-r${round}`;

/**
 * The judged files in the official layouts, one model per round, so that the official scoring scripts
 * read them: AlpacaEval's results/<model>/model_outputs.json and <annotator>/annotations.json, and
 * Arena-Hard's model_judgment/<judge>/<model>.jsonl, rows in the order given (the prompts').
 */
export async function writeOfficialFiles(
  dir: string,
  kind: PairwiseSuite['kind'],
  verdicts: readonly VerdictRecord[],
  rounds: readonly number[],
) {
  for (const round of rounds) {
    const model = roundModel(dir, round);
    const judged = verdicts.filter((v) => v.round === round && v.raw !== null && v.generationId !== null);
    if (kind === 'alpaca-eval') {
      const rows = judged.map((v) => {
        const r = JSON.parse(v.raw!) as Record<string, unknown>;
        // alpaca-eval 0.6.6's keys in its order, generator_2 naming the round.
        return {
          dataset: r.dataset,
          instruction: r.instruction,
          output_1: r.output_1,
          generator_1: r.generator_1,
          output_2: r.output_2,
          generator_2: model,
          annotator: r.annotator,
          preference: r.preference,
          preference_raw_completion: r.preference === null ? null : r.raw_completion,
        };
      });
      const annotator = (rows[0]?.annotator as string | undefined) ?? 'annotator';
      const results = join(dir, 'results', model);
      const outputs = rows.map((r) => ({
        dataset: r.dataset,
        instruction: r.instruction,
        output: r.output_2,
        generator: model,
      }));
      await writeAtomic(join(results, 'model_outputs.json'), JSON.stringify(outputs, null, 2) + '\n');
      await writeAtomic(join(results, annotator, 'annotations.json'), JSON.stringify(rows, null, 2) + '\n');
    } else {
      const lines = judged.map((v) => {
        const { judge, games } = JSON.parse(v.raw!) as { judge: string; games: Game[] };
        return { judge, line: JSON.stringify({ question_id: v.promptId, model, judge, games }) };
      });
      const judge = lines[0]?.judge ?? 'judge';
      const text = lines.map((l) => l.line + '\n').join('');
      await writeAtomic(join(dir, 'model_judgment', judge, `${model}.jsonl`), text);
    }
  }
}

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
      const judge = await officialJudge(suite);
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
          // The official files' content: a changed template or parameter judges again.
          official: judge.kind === 'alpaca-eval' ? judge.annotator : judge.config,
          model: judge.model,
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
        const chat = deps.chatFor({ endpoint: suite.judge.endpoint, model: judge.model });
        if (!chat.exact) throw new Error('the judge client cannot send exact requests');
        const exact = chat.exact;
        if (judge.label.includes('not the leaderboard')) log.warn(`suite ${suite.name}: ${judge.label}`);
        const ask: Ask = (messages, params) =>
          exact({
            model: judge.model,
            messages,
            params,
            signal: lease?.abortSignal,
            stop: lease?.stopSignal,
          });
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
                  judge: judge.label,
                  modelLength: kept ? codePointLength(kept.text) : null,
                  referenceLength: codePointLength(reference.answer),
                };
                if (!kept) {
                  const none = { preference: null, swapped: null, draw: null, raw: null };
                  const games = suite.kind === 'arena-hard' ? [null, null] : [];
                  return journal.append({ ...base, status: 'missing', ...none, games });
                }
                const row = { prompt: prompt.prompt, answer: kept.text, reference };
                const judged = await judgeRow(ask, judge, suite.seed, row);
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
        // In prompt order, as the official files list them (the bootstrap draws rows by position).
        const order = new Map(prompts.map((p, i) => [p.id, i]));
        const verdicts = (await Promise.all(input.verdicts.map((m) => readManifestRows(m, 'verdict'))))
          .flat()
          .sort((a, b) => order.get(a.promptId)! - order.get(b.promptId)!);
        judge = (await officialJudge(suite)).label;
        await writeOfficialFiles(input.scope.dir, suite.kind, verdicts, rounds);
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
