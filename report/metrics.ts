import { basename, join, relative } from 'node:path';
import type { PromptSource } from '../core/config.js';
import type { Manifest, ScoreRecord } from '../core/records.js';
import type { IterationData, RunData } from './read.js';

/** One number of the run, with the judge and answer extractor that produced it and the file it came from. */
export interface MetricRow {
  iteration: number;
  set: string;
  metric: string;
  value: number | null;
  unit: 'share' | 'points' | 'number';
  n: number | null;
  judge: string;
  extractor: string;
  /** Path relative to the run directory. */
  source: string;
}

/** Round r of a refinement chain: 0 is the direct answer, r > 0 the r-th refinement. */
export const roundLabel = (r: number) => (r === 0 ? 'direct' : `refine@${r}`);

export function describeSource(source: PromptSource): string {
  return source.kind === 'arithmetic'
    ? `arithmetic x${source.count} (seed ${source.seed})`
    : `${basename(source.path)}${source.limit ? ` (first ${source.limit})` : ''}`;
}

/** "verifier:numeric:flexible" is the numeric verifier with its flexible extractor; LLM judges parse a score. */
export function splitJudge(score: ScoreRecord): { judge: string; extractor: string } {
  if (score.status !== 'ok' && !score.judge.startsWith('verifier:'))
    return { judge: score.judge, extractor: 'unparseable' };
  if (!score.judge.startsWith('verifier:')) return { judge: score.judge, extractor: 'score parser' };
  const [kind, name, extractor] = score.judge.split(':');
  return { judge: `${kind}:${name}`, extractor: extractor ?? 'none' };
}

/** "flexible 9, none 1": how many scores each value took, most frequent first. */
function tally(values: string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return (
    [...counts]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .map(([v, n]) => `${v} ${n}`)
      .join(', ') || '-'
  );
}

function judged(scores: ScoreRecord[]): { judge: string; extractor: string } {
  const parts = scores.map(splitJudge);
  return {
    judge: [...new Set(parts.map((p) => p.judge))].sort().join(', ') || '-',
    extractor: tally(parts.map((p) => p.extractor)),
  };
}

function evalRows(run: RunData, it: IterationData): MetricRow[] {
  if (!it.evaluation) return [];
  const { accuracy, missing, prompts } = it.evaluation;
  const base = {
    iteration: it.iteration,
    set: `eval: ${describeSource(run.config.evaluation.prompts)}`,
    n: prompts,
    source: relative(run.dir, join(it.dir, 'eval', 'evaluation.json')),
  };
  // The evaluation follows the first chain: round r is its (r + 1)-th response.
  const atRound = (r: number) => judged(it.evalScores.filter((s) => s.chain === 0 && s.step === r + 1));
  return accuracy.flatMap((acc, r) => [
    { ...base, metric: `accuracy ${roundLabel(r)}`, value: acc, unit: 'share' as const, ...atRound(r) },
    ...(r > 0
      ? [
          {
            ...base,
            metric: `gain ${roundLabel(r)} vs ${roundLabel(r - 1)}`,
            value: acc - accuracy[r - 1]!,
            unit: 'points' as const,
            ...atRound(r),
          },
        ]
      : []),
    ...((missing?.[r] ?? 0) > 0
      ? [
          {
            ...base,
            metric: `unjudged ${roundLabel(r)}`,
            value: missing![r]!,
            unit: 'number' as const,
            ...atRound(r),
          },
        ]
      : []),
  ]);
}

/** Each suite's headline per round, and its interval (Arena-Hard) or standard error (AlpacaEval). */
function suiteRows(run: RunData, it: IterationData): MetricRow[] {
  return it.suites.flatMap((suite) =>
    suite.rounds.map((r) => {
      const spread =
        r.metrics.lower !== undefined
          ? ` [${r.metrics.lower.toFixed(1)}, ${r.metrics.upper!.toFixed(1)}]`
          : r.metrics.standardError !== undefined
            ? ` (SE ${r.metrics.standardError.toFixed(1)})`
            : '';
      return {
        iteration: it.iteration,
        set: `suite: ${suite.name} (${suite.kind})`,
        metric: `${suite.headline} ${roundLabel(r.round)}${spread}`,
        value: r.value === null ? null : r.value / 100,
        unit: 'share' as const,
        n: suite.prompts - r.missing,
        judge: suite.judge,
        extractor: '-',
        source: relative(run.dir, join(it.dir, `suite-${suite.name}`, 'summary.json')),
      };
    }),
  );
}

/** Mean judge score (reward) of the training responses at each chain step, per judge. */
function rewardRows(run: RunData, it: IterationData): MetricRow[] {
  const groups = new Map<string, ScoreRecord[]>();
  for (const s of it.trainScores) {
    const key = `${s.step}\u0000${splitJudge(s).judge}`;
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  return [...groups]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, scores]) => {
      const ok = scores.filter((s) => s.status === 'ok').map((s) => s.score!);
      return {
        iteration: it.iteration,
        set: `train: ${run.config.prompts.map(describeSource).join(' + ')}`,
        metric: `mean reward ${roundLabel(scores[0]!.step - 1)}`,
        value: ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : null,
        unit: 'number' as const,
        n: ok.length,
        ...judged(scores),
        source: relative(run.dir, join(it.dir, 'train', 'judge')),
      };
    });
}

/** A manifest's stats as rows: the dataset card of the pairs, the prompt counts (decontamination). */
function statRows(
  run: RunData,
  it: IterationData,
  manifest: Manifest | null,
  file: string,
  set: string,
): MetricRow[] {
  if (!manifest) return [];
  const source = relative(run.dir, join(it.dir, file));
  return Object.entries(manifest.stats).map(([metric, value]) => ({
    iteration: it.iteration,
    set,
    metric,
    value,
    unit: metric.endsWith('Share') ? ('share' as const) : ('number' as const),
    n: null,
    judge: '-',
    extractor: '-',
    source,
  }));
}

/** Trainer steps are the log entries with a loss; the entry with train_loss is the run summary. */
export const trainerSteps = (log: Record<string, number>[]) => log.filter((e) => e.loss !== undefined);

function trainerRows(run: RunData, it: IterationData): MetricRow[] {
  if (!it.training) return [];
  const steps = trainerSteps(it.training.log);
  const summary = it.training.log.find((e) => e.train_loss !== undefined);
  const base = {
    iteration: it.iteration,
    set: `trainer (${it.training.state})`,
    unit: 'number' as const,
    judge: '-',
    extractor: '-',
    source: relative(run.dir, join(it.training.dir, 'train.log')),
  };
  const last = steps.at(-1);
  const picked: [string, number | undefined, number | null][] = [
    ['loss first step', steps[0]?.loss, 1],
    ['loss last step', last?.loss, steps.length],
    ['rewards/margins last step', last?.['rewards/margins'], steps.length],
    ['rewards/accuracies last step', last?.['rewards/accuracies'], steps.length],
    ['train_loss', summary?.train_loss, steps.length],
    ['train_runtime (s)', summary?.train_runtime, null],
  ];
  return picked
    .filter(([, value]) => value !== undefined)
    .map(([metric, value, n]) => ({ ...base, metric, value: value!, n }));
}

export function metricRows(run: RunData): MetricRow[] {
  return run.iterations.flatMap((it) => [
    ...evalRows(run, it),
    ...suiteRows(run, it),
    ...rewardRows(run, it),
    ...statRows(run, it, it.prompts, 'train/prompts.jsonl.manifest.json', 'training prompts'),
    ...statRows(
      run,
      it,
      it.pairs,
      'train/pairs/pairs.jsonl.manifest.json',
      `pairs (${run.config.pairing.rule}, margin ${run.config.pairing.margin})`,
    ),
    ...trainerRows(run, it),
  ]);
}

export function formatValue(row: Pick<MetricRow, 'value' | 'unit'>): string {
  if (row.value === null) return '-';
  if (row.unit === 'share') return `${(row.value * 100).toFixed(1)}%`;
  if (row.unit === 'points') return `${row.value >= 0 ? '+' : ''}${(row.value * 100).toFixed(1)} pp`;
  return String(Number(row.value.toPrecision(4)));
}
