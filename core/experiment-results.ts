/**
 * results.json of the micro-reproduction (docs/results/micro-reproduction.md): written by
 * client/experiment.ts, drawn by report/experiment-charts.ts.
 */
import { z } from 'zod';

export const ARMS = ['evolve', 'iterative-dpo'] as const;
export type Arm = (typeof ARMS)[number];
export const METRICS = ['direct', 'refine@1', 'refine@2'] as const;

const IntervalSchema = z.strictObject({ low: z.number(), high: z.number() });

const MetricRowSchema = z.strictObject({
  metric: z.enum(METRICS),
  accuracy: z.number(),
  correct: z.int(),
  prompts: z.int(),
  ci95: IntervalSchema.describe('95 % Wilson interval'),
});
export type MetricRow = z.infer<typeof MetricRowSchema>;

const IterationRowSchema = z.strictObject({
  iteration: z.int(),
  metrics: z.array(MetricRowSchema),
  pairs: z
    .int()
    .nullable()
    .describe('preference triples (direct rows) the iteration trained on; null for iteration 0'),
  refinementWins: z
    .int()
    .nullable()
    .describe('of those, how many had a later step of the same chain as the chosen response'),
  stepSeconds: z.record(z.string(), z.number()).describe('activity time per step, summed over shards'),
});
export type IterationRow = z.infer<typeof IterationRowSchema>;

const ArmResultsSchema = z.strictObject({
  arm: z.enum(ARMS),
  runId: z.string(),
  configHash: z.string(),
  iterations: z.array(IterationRowSchema),
});
export type ArmResults = z.infer<typeof ArmResultsSchema>;

/** results.json: what the table and the charts are rebuilt from (`evolve experiment render`). */
export const ExperimentResultsSchema = z.strictObject({
  smoke: z.boolean(),
  split: z.enum(['test', 'dev']),
  wallSeconds: z
    .number()
    .describe(
      "from the first start of either arm's run to the end of the last, interruptions and reruns of the command included",
    ),
  arms: z.array(ArmResultsSchema),
});
export type ExperimentResults = z.infer<typeof ExperimentResultsSchema>;
