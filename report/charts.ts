import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { describeSource, roundLabel, splitJudge, trainerSteps } from './metrics.js';
import type { RunData } from './read.js';

/** A rendered chart, or why it has nothing to show yet (a partial run). */
export interface Chart {
  id: string;
  title: string;
  svg: string | null;
  missing: string;
}

type Row = Record<string, string | number>;

const iter = (t: number) => `iter ${t}`;

/** Vega-Lite compiled to Vega and rendered headless: no browser, no canvas. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** A figure across iterations: one line per response (direct, refine@k), one panel per `column`. */
const roundCurves = (
  rows: Row[],
  y: Record<string, unknown>,
  column: { field: string; type: 'nominal'; title: string },
  width: number,
): TopLevelSpec => ({
  data: { values: rows },
  // Hollow markers of a shape per response: where direct and refined are equal both stay visible.
  mark: { type: 'line', point: { size: 90, filled: false, strokeWidth: 2 } },
  encoding: {
    x: { field: 'iteration', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } },
    y,
    color: { field: 'round', type: 'nominal', title: 'response' },
    shape: { field: 'round', type: 'nominal', title: 'response' },
    strokeDash: { field: 'round', type: 'nominal', title: 'response' },
    column,
  },
  width,
  height: 220,
});

const iterationColor = { field: 'iteration', type: 'nominal', title: 'iteration' } as const;

function accuracySpec(run: RunData): [Row[], TopLevelSpec] {
  const set = describeSource(run.config.evaluation.prompts);
  const rows = run.iterations.flatMap((it) =>
    (it.evaluation?.accuracy ?? []).map((accuracy, r) => ({
      iteration: it.iteration,
      round: roundLabel(r),
      accuracy,
      set,
    })),
  );
  return [
    rows,
    roundCurves(
      rows,
      { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' } },
      { field: 'set', type: 'nominal', title: 'eval set' },
      320,
    ),
  ];
}

function gainSpec(run: RunData): [Row[], TopLevelSpec] {
  const rows = run.iterations.flatMap((it) => {
    const acc = it.evaluation?.accuracy ?? [];
    return acc.slice(1).map((a, i) => ({
      iteration: iter(it.iteration),
      round: roundLabel(i + 1),
      gain: (a - acc[i]!) * 100,
    }));
  });
  return [
    rows,
    {
      data: { values: rows },
      encoding: {
        x: { field: 'round', type: 'ordinal', title: 'refinement round', axis: { labelAngle: 0 } },
        xOffset: { field: 'iteration' },
        // A fixed format: all-zero gains otherwise get one tick labelled 0.000000.
        y: {
          field: 'gain',
          type: 'quantitative',
          title: 'gain over the previous round (pp)',
          axis: { format: '+.1f' },
          scale: {
            domainMin: Math.min(-1, ...rows.map((r) => r.gain)),
            domainMax: Math.max(1, ...rows.map((r) => r.gain)),
          },
        },
        color: iterationColor,
      },
      layer: [
        { mark: 'bar' },
        // A zero gain is a bar of no height: each bar's value, written at its end, shows it too.
        {
          mark: { type: 'text', dy: -8 },
          encoding: { text: { field: 'gain', type: 'quantitative', format: '+.1f' } },
        },
      ],
      width: { step: 80 },
      height: 220,
    },
  ];
}

function rewardSpec(run: RunData): [Row[], TopLevelSpec] {
  const rows = run.iterations.flatMap((it) =>
    it.trainScores.map((s) => ({
      iteration: iter(it.iteration),
      judge: splitJudge(s).judge,
      round: roundLabel(s.step - 1),
      score: s.status === 'ok' ? String(s.score) : 'unparseable',
      order: s.status === 'ok' ? s.score! : Number.MAX_SAFE_INTEGER,
    })),
  );
  return [
    rows,
    {
      data: { values: rows },
      mark: 'bar',
      encoding: {
        x: {
          field: 'score',
          type: 'ordinal',
          sort: { field: 'order', op: 'min' },
          title: 'judge score',
          axis: { labelAngle: 0 },
        },
        xOffset: { field: 'round' },
        y: { aggregate: 'count', type: 'quantitative', title: 'responses' },
        color: { field: 'round', type: 'nominal', title: 'response' },
        column: { field: 'judge', type: 'nominal', title: 'judge' },
        row: { field: 'iteration', type: 'nominal', title: null },
      },
      // Verifier scores are 0/1, LLM scores 1..maxScore: each judge gets its own axis.
      resolve: { scale: { x: 'independent', xOffset: 'independent' } },
      width: 200,
      height: 160,
    },
  ];
}

const PAIR_COUNTS = [
  'prompts',
  'pairedPrompts',
  'directPairs',
  'refinementPairs',
  'droppedUnjudged',
  'droppedSingleResponse',
  'droppedBelowMargin',
];

function pairSpec(run: RunData): [Row[], TopLevelSpec] {
  const rows = run.iterations.flatMap((it) =>
    Object.entries(it.pairs?.stats ?? {})
      .filter(([stat]) => PAIR_COUNTS.includes(stat))
      .map(([stat, count]) => ({ iteration: iter(it.iteration), stat, count })),
  );
  return [
    rows,
    {
      data: { values: rows },
      mark: 'bar',
      encoding: {
        y: { field: 'stat', type: 'nominal', sort: PAIR_COUNTS, title: null },
        yOffset: { field: 'iteration' },
        x: { field: 'count', type: 'quantitative', title: 'count' },
        color: iterationColor,
      },
      width: 320,
    },
  ];
}

const TRAINER_SERIES = ['loss', 'rewards/margins', 'rewards/accuracies'];

function trainingSpec(run: RunData): [Row[], TopLevelSpec] {
  const rows = run.iterations.flatMap((it) =>
    trainerSteps(it.training?.log ?? []).flatMap((step, i) =>
      TRAINER_SERIES.filter((metric) => step[metric] !== undefined).map((metric) => ({
        iteration: iter(it.iteration),
        epoch: step.epoch ?? i + 1,
        metric,
        value: step[metric]!,
      })),
    ),
  );
  return [
    rows,
    {
      data: { values: rows },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'epoch', type: 'quantitative' },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
        color: iterationColor,
        row: { field: 'metric', type: 'nominal', sort: TRAINER_SERIES, title: null },
      },
      resolve: { scale: { y: 'independent' } },
      width: 320,
      height: 120,
    },
  ];
}

/** Each benchmark suite's headline figure per iteration, one line per response (direct, refine@k). */
function suitesSpec(run: RunData): [Row[], TopLevelSpec] {
  const rows = run.iterations.flatMap((it) =>
    it.suites.flatMap((suite) =>
      suite.rounds
        .filter((r) => r.value !== null)
        .map((r) => ({
          iteration: it.iteration,
          suite: `${suite.name}: ${suite.headline}`,
          round: roundLabel(r.round),
          value: r.value!,
        })),
    ),
  );
  return [
    rows,
    roundCurves(
      rows,
      { field: 'value', type: 'quantitative', title: '%', scale: { domain: [0, 100] } },
      { field: 'suite', type: 'nominal', title: 'benchmark suite' },
      240,
    ),
  ];
}

const CHARTS: {
  id: string;
  title: string;
  spec: (run: RunData) => [Row[], TopLevelSpec];
  missing: string;
  /** Shown only for runs this applies to (default: every run). */
  applies?: (run: RunData) => boolean;
}[] = [
  {
    id: 'accuracy',
    title: 'Held-out accuracy per iteration: direct vs refined',
    spec: accuracySpec,
    missing: 'no iteration has finished its evaluation yet',
  },
  {
    id: 'suites',
    title: 'Benchmark suites per iteration: direct vs refined',
    spec: suitesSpec,
    missing: 'no iteration has scored its benchmark suites yet',
    applies: (run) => (run.config.evaluation.suites?.length ?? 0) > 0,
  },
  {
    id: 'gain',
    title: 'Accuracy gain per refinement round',
    spec: gainSpec,
    missing: 'no finished evaluation with a refinement round yet',
  },
  {
    id: 'rewards',
    title: 'Reward (judge score) distribution of the training responses',
    spec: rewardSpec,
    missing: 'no training shard has been judged yet',
  },
  {
    id: 'pairs',
    title: 'Preference pairs: kept and dropped',
    spec: pairSpec,
    missing: 'no iteration has built its pairs yet',
  },
  {
    id: 'training',
    title: 'DPO training: loss and implicit reward by epoch (one point per logged step)',
    spec: trainingSpec,
    missing: 'the trainer has not logged a step yet',
  },
];

export async function renderCharts(run: RunData): Promise<Chart[]> {
  const charts: Chart[] = [];
  for (const { id, title, spec, missing, applies } of CHARTS) {
    if (applies && !applies(run)) continue;
    const [rows, vl] = spec(run);
    charts.push({ id, title, missing, svg: rows.length ? await renderSvg(vl) : null });
  }
  return charts;
}
