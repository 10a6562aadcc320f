import type { TopLevelSpec } from 'vega-lite';
import type { ExperimentResults } from '../core/experiment-results.js';
import { newcombeDifference } from '../core/metrics/wilson.js';
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
 * The micro-reproduction's two figures: accuracy per arm and iteration for each metric (direct,
 * refine@1, refine@2), and the refinement gain refine@1 - direct per arm and iteration, with 95 % intervals.
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
      const [direct, refine1] = it.metrics;
      if (!direct || !refine1) continue;
      const ci = newcombeDifference([refine1.correct, refine1.prompts], [direct.correct, direct.prompts]);
      gain.push({
        arm: arm.arm,
        iteration: it.iteration,
        gain: 100 * (refine1.accuracy - direct.accuracy),
        low: 100 * ci.low,
        high: 100 * ci.high,
      });
    }
  }
  return [
    { id: 'accuracy', svg: await renderSvg(armCurves(accuracy, 'accuracy', 'accuracy (%)', 'metric')) },
    { id: 'refinement-gain', svg: await renderSvg(armCurves(gain, 'gain', 'refine@1 - direct (pp)')) },
  ];
}
