/**
 * `evolve metrics alpaca-eval|arena-hard`: benchmark scores from the official harnesses' own output
 * files (AlpacaEval annotations.json, Arena-Hard model_judgment/*.jsonl), no run or server needed.
 * `evolve metrics gsm8k|math`: a run's evaluation answers graded per answer extractor.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/config.js';
import { headToHead, lengthControlledWinRate } from '../core/metrics/alpaca-eval.js';
import { arenaHardScores } from '../core/metrics/arena-hard.js';
import {
  readAlpacaAnnotations,
  readArenaHardJudgments,
  readInstructionDifficulty,
  type AlpacaAnnotation,
} from '../activities/benchmarks/official-results.js';
import { DataError } from '../activities/artifacts.js';
import { evaluatedAnswers } from '../activities/benchmarks/exporters.js';
import { accuracyByExtractor, type AccuracySuite } from '../core/metrics/accuracy.js';
import { optionalInt, runDirectory } from './export.js';
import { formatTable } from './table.js';

const USAGE = `usage:
  evolve metrics alpaca-eval <annotations.json>... [--difficulty instruction_difficulty.csv] [--json]
  evolve metrics arena-hard <judgment file or dir>... [--baseline gpt-4-0314] [--rounds 100] [--seed 42] [--json]
  evolve metrics gsm8k|math <run id or directory> [--iteration t] [--round r] [--json]`;

const fixed = (x: number, digits: number) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : 'n/a');

async function alpacaEval(files: string[], difficultyPath: string | undefined) {
  const difficulty = difficultyPath ? await readInstructionDifficulty(difficultyPath) : undefined;
  const byModel = new Map<string, AlpacaAnnotation[]>();
  for (const file of files) {
    for (const row of await readAlpacaAnnotations(file)) {
      if (!byModel.has(row.model)) byModel.set(row.model, []);
      byModel.get(row.model)!.push(row);
    }
  }
  return [...byModel].map(([model, rows]) => {
    const lengths = rows.map((r) => r.modelLength).filter((l): l is number => l !== null);
    let lc: number | undefined;
    if (difficulty) {
      const missing = rows.find((r) => r.referenceLength === null || r.modelLength === null);
      if (missing)
        throw new DataError(
          `${model}: the length-controlled win rate needs output_1 and output_2 in every row`,
        );
      lc =
        model === rows[0]!.reference
          ? 50
          : lengthControlledWinRate(
              rows.map((r) => {
                const gamma = difficulty[r.position];
                if (gamma === undefined)
                  throw new DataError(`${difficultyPath}: no difficulty for index ${r.position}`);
                return {
                  preference: r.preference,
                  referenceLength: r.referenceLength!,
                  modelLength: r.modelLength!,
                  difficulty: gamma,
                };
              }),
            ).lengthControlledWinRate;
    }
    return {
      model,
      ...headToHead(rows.map((r) => r.preference)),
      avgLength: lengths.length ? Math.round(lengths.reduce((s, l) => s + l, 0) / lengths.length) : null,
      ...(lc === undefined ? {} : { lengthControlledWinRate: lc }),
    };
  });
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
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      difficulty: { type: 'string' },
      baseline: { type: 'string', default: 'gpt-4-0314' },
      rounds: { type: 'string', default: '100' },
      seed: { type: 'string', default: '42' },
      iteration: { type: 'string' },
      round: { type: 'string' },
    },
  });
  const [suite, ...files] = positionals;
  if (files.length === 0 || !['alpaca-eval', 'arena-hard', 'gsm8k', 'math'].includes(suite ?? ''))
    throw new ConfigError(USAGE);
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
    const rows = (await alpacaEval(files, values.difficulty)).sort((a, b) => b.winRate - a.winRate);
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
            ...(values.difficulty ? ['length_controlled_winrate'] : []),
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
            ...(r.lengthControlledWinRate === undefined ? [] : [fixed(r.lengthControlledWinRate, 2)]),
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
