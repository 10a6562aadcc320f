import type { TopLevelSpec } from 'vega-lite';
import type { ExperimentResults } from '../core/experiment-results.js';
import { renderSvg } from './charts.js';

type Row = Record<string, string | number>;

/** Points joined per arm, with each point's 95 % interval as a vertical rule, one panel per `column`. */
const armCurves = (rows: Row[], y: string, title: string, column?: string): TopLevelSpec => {
  const x = { field: 'iteration', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } } as const;
  const color = { field: 'arm', type: 'nominal', title: 'arm' } as const;
  const layers = {
    layer: [
      {
        mark: { type: 'line', point: { size: 60 } },
        encoding: { x, y: { field: y, type: 'quantitative', title }, color },
      },
      {
        mark: 'rule',
        encoding: { x, y: { field: 'low', type: 'quantitative' }, y2: { field: 'high' }, color },
      },
    ],
  };
  return column
    ? ({
        data: { values: rows },
        facet: { column: { field: column, type: 'nominal', title: null } },
        spec: { width: 220, height: 220, ...layers },
      } as TopLevelSpec)
    : ({ data: { values: rows }, width: 320, height: 220, ...layers } as TopLevelSpec);
};

/**
 * The micro-reproduction's three figures: accuracy per arm and iteration for each metric (direct,
 * refine@1, refine@2), the refinement gain refine@1 - direct per arm and iteration, and EVOLVE - Iterative
 * DPO per metric and iteration; the differences with paired (exact McNemar-based) 95 % intervals.
 */
export async function experimentCharts(results: ExperimentResults): Promise<{ id: string; svg: string }[]> {
  const accuracy: Row[] = [];
  const gain: Row[] = [];
  for (const arm of results.arms) {
    for (const it of arm.iterations) {
      for (const m of it.metrics)
        accuracy.push({
          arm: arm.arm,
          iteration: it.iteration,
          metric: m.metric,
          accuracy: 100 * m.accuracy,
          low: 100 * m.ci95.low,
          high: 100 * m.ci95.high,
        });
      const d = it.paired['refine@1-direct'];
      gain.push({
        arm: arm.arm,
        iteration: it.iteration,
        gain: 100 * d.estimate,
        low: 100 * d.low,
        high: 100 * d.high,
      });
    }
  }
  // EVOLVE - Iterative DPO, one line per metric (the `arm` encoding colours the metric here).
  const versus = results.comparisons.map((c) => ({
    arm: c.metric,
    iteration: c.iteration,
    difference: 100 * c.estimate,
    low: 100 * c.low,
    high: 100 * c.high,
  }));
  return [
    { id: 'accuracy', svg: await renderSvg(armCurves(accuracy, 'accuracy', 'accuracy (%)', 'metric')) },
    { id: 'refinement-gain', svg: await renderSvg(armCurves(gain, 'gain', 'refine@1 - direct (pp)')) },
    {
      id: 'evolve-vs-iterative-dpo',
      svg: await renderSvg(armCurves(versus, 'difference', 'EVOLVE - Iterative DPO (pp)')),
    },
  ];
}
