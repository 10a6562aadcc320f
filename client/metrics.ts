/**
 * `evolve metrics alpaca-eval|arena-hard`: benchmark scores from the official harnesses' own output
 * files (AlpacaEval annotations.json, Arena-Hard model_judgment/*.jsonl), no run or server needed.
 * `evolve metrics gsm8k|math`: a run's evaluation answers graded per answer extractor.
 */
import { ConfigError } from '../core/config.js';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  averageLength,
  headToHead,
  lengthControlledWinRate,
  LC_MODES,
  predictedWinRate,
  type LcMode,
} from '../core/metrics/alpaca-eval.js';
import { arenaHardScores } from '../core/metrics/arena-hard.js';
import {
  readAlpacaAnnotations,
  readArenaHardJudgments,
  readGamedRows,
  readInstructionDifficulty,
  readLcWeights,
  readModelOutputs,
  type AlpacaAnnotation,
} from '../storage/benchmarks/official-results.js';
import { DataError } from '../storage/files.js';
import { evaluatedAnswers } from '../storage/benchmarks/exporters.js';
import { accuracyByExtractor, type AccuracySuite } from '../core/metrics/accuracy.js';
import { optionalInt, runDirectory } from './export.js';
import { formatTable } from '../core/table.js';
import { commandArgs, UsageError } from './args.js';

const fixed = (x: number, digits: number) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : 'n/a');

interface LcOptions {
  mode: string;
  difficulty?: string;
  gamed?: string;
  weights?: string;
}

/** The LC inputs the flags name, read once for every model. */
async function lcInputs(options: LcOptions) {
  if (!(LC_MODES as readonly string[]).includes(options.mode))
    throw new ConfigError(`--lc-mode: one of ${LC_MODES.join(', ')}, got "${options.mode}"`);
  const mode = options.mode as LcMode;
  if (options.weights) {
    if (!options.difficulty)
      throw new ConfigError(
        '--weights: needs --difficulty instruction_difficulty.csv, as predict_winrate does',
      );
    if (options.gamed)
      throw new ConfigError('--weights and --gamed: the weights are already fitted; pass one');
    return {
      weights: await readLcWeights(options.weights),
      difficulty: await readInstructionDifficulty(options.difficulty),
    };
  }
  if (!options.gamed && !options.difficulty) return undefined;
  if (mode === 'v1' && !options.gamed)
    throw new ConfigError(
      '--lc-mode v1 (the default): needs --gamed df_gamed.csv (its rows and difficulties); or --lc-mode noreg|unpenalised with --difficulty',
    );
  const gamed = options.gamed ? await readGamedRows(options.gamed) : undefined;
  // The official fit takes each instruction's difficulty from df_gamed.csv.
  const difficulty = gamed?.difficulty ?? (await readInstructionDifficulty(options.difficulty!));
  return { mode, gamed: gamed?.rows ?? [], difficulty };
}

/** Where the official layout keeps a model's outputs: results/<model>/model_outputs.json beside the annotator's folder. */
const outputsBeside = (annotations: string) =>
  join(dirname(dirname(resolve(annotations))), 'model_outputs.json');

async function alpacaEval(files: string[], options: LcOptions) {
  const lc = await lcInputs(options);
  const byModel = new Map<string, { rows: AlpacaAnnotation[]; files: string[] }>();
  for (const file of files) {
    for (const row of await readAlpacaAnnotations(file)) {
      if (!byModel.has(row.model)) byModel.set(row.model, { rows: [], files: [] });
      const entry = byModel.get(row.model)!;
      entry.rows.push(row);
      if (!entry.files.includes(file)) entry.files.push(file);
    }
  }
  return Promise.all(
    [...byModel].map(async ([model, { rows, files: sources }]) => {
      // avg_length as the official leaderboard: over model_outputs.json where it lies beside, else output_2.
      const beside = sources.length === 1 ? outputsBeside(sources[0]!) : undefined;
      const outputs = beside && existsSync(beside) ? await readModelOutputs(beside) : undefined;
      const lengths = rows.map((r) => r.modelLength).filter((l): l is number => l !== null);
      const avgLength = outputs
        ? averageLength(outputs)
        : lengths.length
          ? Math.trunc(lengths.reduce((s, l) => s + l, 0) / lengths.length)
          : null;
      const reference = rows[0]!.reference;
      const other = rows.find((r) => r.reference !== reference);
      if (other)
        throw new DataError(
          `${model}: judged against two baselines ("${reference}" and "${other.reference}"); one per model`,
        );
      return {
        model,
        ...headToHead(rows.map((r) => r.preference)),
        avgLength,
        avgLengthOf: outputs ? beside : 'output_2',
        ...(lc ? lengthControlled(model, reference, rows, lc, options) : {}),
      };
    }),
  );
}

function lengthControlled(
  model: string,
  reference: string,
  rows: AlpacaAnnotation[],
  lc: NonNullable<Awaited<ReturnType<typeof lcInputs>>>,
  options: LcOptions,
) {
  if ('weights' in lc && lc.weights) {
    const { weights } = lc;
    const row = (name: string, role: string) => {
      const w = weights.get(name);
      if (!w) throw new DataError(`${options.weights}: no weights for ${role} "${name}"`);
      return w;
    };
    const baseline = row(reference, 'the baseline (generator_1)');
    return {
      lengthControlledWinRate: predictedWinRate(
        row(model, 'the model (generator_2)'),
        baseline,
        lc.difficulty.filter(Number.isFinite),
      ),
      lcFrom: 'weights',
    };
  }
  // The official: the baseline against itself is 50 by construction.
  if (model === reference) return { lengthControlledWinRate: 50, lcStandardError: 0, lcMode: lc.mode };
  const source = options.gamed ?? options.difficulty;
  const lengthRows = rows.map((r) => {
    const gamma = lc.difficulty[r.position];
    if (gamma === undefined) throw new DataError(`${source}: no difficulty for index ${r.position}`);
    if (r.referenceLength === null || r.modelLength === null)
      throw new DataError(
        `${model}: the length-controlled win rate needs output_1 and output_2 in every row`,
      );
    return {
      preference: r.preference,
      referenceLength: r.referenceLength,
      modelLength: r.modelLength,
      difficulty: gamma,
    };
  });
  let fit;
  try {
    fit = lengthControlledWinRate(lengthRows, lc.mode, lc.gamed);
  } catch (err) {
    if (err instanceof RangeError) throw new DataError(`${model}: ${err.message}`);
    throw err;
  }
  return {
    lengthControlledWinRate: fit.lengthControlledWinRate,
    lcStandardError: fit.lcStandardError,
    lcMode: lc.mode,
    ...(fit.C === undefined ? {} : { lcC: fit.C }),
  };
}

async function graded(suite: AccuracySuite, run: string, iteration?: number, round?: number) {
  const result = await evaluatedAnswers(runDirectory(run), iteration, round);
  const items = result.answers.map(({ prompt, answer }) => {
    if (prompt.answer === undefined)
      throw new DataError(`prompt "${prompt.id}" has no gold answer to grade against`);
    return { response: answer, gold: prompt.answer };
  });
  return {
    iteration: result.iteration,
    round: result.round,
    prompts: items.length,
    rows: accuracyByExtractor(suite, items),
  };
}

export async function metricsCommand(argv: string[], say: (line: string) => void): Promise<number> {
  const { values, positionals } = commandArgs('metrics', argv);
  const [suite, ...files] = positionals;
  if (!['alpaca-eval', 'arena-hard', 'gsm8k', 'math'].includes(suite ?? ''))
    throw new UsageError(
      `which benchmark? alpaca-eval, arena-hard, gsm8k or math${suite ? `, not "${suite}"` : ''}`,
    );
  if (files.length === 0) throw new UsageError(`${suite}: which files or run?`);
  if (suite === 'gsm8k' || suite === 'math') {
    const result = await graded(
      suite,
      files[0]!,
      optionalInt('iteration', values.iteration),
      optionalInt('round', values.round),
    );
    if (values.json) say(JSON.stringify(result, null, 2));
    else {
      say(
        `${suite}: iteration ${result.iteration}, after ${result.round} refinement round(s), ${result.prompts} prompts`,
      );
      say(
        formatTable(
          ['extractor', 'accuracy', 'correct', 'extracted', 'total'],
          result.rows.map((r) => [r.extractor, fixed(100 * r.accuracy, 1), r.correct, r.extracted, r.total]),
        ),
      );
    }
    return 0;
  }
  if (suite === 'alpaca-eval') {
    const rows = (
      await alpacaEval(files, {
        mode: values['lc-mode'],
        difficulty: values.difficulty,
        gamed: values.gamed,
        weights: values.weights,
      })
    ).sort((a, b) => b.winRate - a.winRate);
    const withLc = rows.some((r) => 'lengthControlledWinRate' in r);
    if (values.json) say(JSON.stringify(rows, null, 2));
    else
      say(
        formatTable(
          [
            'model',
            'win_rate',
            'standard_error',
            'n_wins',
            'n_wins_base',
            'n_draws',
            'n_total',
            'discrete_win_rate',
            'avg_length',
            ...(withLc ? ['length_controlled_winrate', 'lc_standard_error'] : []),
          ],
          rows.map((r) => [
            r.model,
            fixed(r.winRate, 2),
            fixed(r.standardError, 2),
            r.nWins,
            r.nWinsBase,
            r.nDraws,
            r.nTotal,
            fixed(r.discreteWinRate, 2),
            r.avgLength ?? 'n/a',
            ...(withLc
              ? [
                  'lengthControlledWinRate' in r ? fixed(r.lengthControlledWinRate, 2) : 'n/a',
                  'lcStandardError' in r ? fixed(r.lcStandardError, 2) : 'n/a',
                ]
              : []),
          ]),
        ),
      );
    return 0;
  }
  const rounds = optionalInt('rounds', values.rounds)!;
  const seed = optionalInt('seed', values.seed)!;
  if (rounds < 1) throw new ConfigError('--rounds: at least 1 bootstrap round');
  const judgments = await readArenaHardJudgments(files, values.baseline);
  const rows = arenaHardScores(judgments, { baseline: values.baseline, rounds, seed }).sort(
    (a, b) => b.score - a.score,
  );
  const gap = rows.find((r) => Number.isNaN(r.lower) || Number.isNaN(r.upper));
  if (gap)
    throw new DataError(
      `${gap.model}: some bootstrap resamples hold none of its battles, so its interval is undefined (NaN); ` +
        `it has ${gap.wins + gap.losses + gap.ties} battle rows of ${judgments.length * 2} games read`,
    );
  if (values.json) say(JSON.stringify({ baseline: values.baseline, rounds, seed, rows }, null, 2));
  else {
    say(
      formatTable(
        ['model', 'score', '95% CI', 'wins', 'losses', 'ties', 'invalid'],
        rows.map((r) => [
          r.model,
          fixed(r.score, 1),
          `(${(r.lower - r.score).toFixed(1)}, +${(r.upper - r.score).toFixed(1)})`,
          r.wins,
          r.losses,
          r.ties,
          r.invalid,
        ]),
      ),
    );
    say(
      `score: predicted win rate (%) against ${values.baseline}; strong verdicts count 3x; ${rounds} bootstrap rounds, seed ${seed}`,
    );
  }
  return 0;
}
