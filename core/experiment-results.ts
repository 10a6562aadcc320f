/**
 * results.json of the micro-reproduction (docs/results/micro-reproduction.md): written by
 * client/experiment.ts, drawn by report/experiment-charts.ts.
 */
import { z } from 'zod';

export const ARMS = ['evolve', 'iterative-dpo'] as const;
export type Arm = (typeof ARMS)[number];
export const METRICS = ['direct', 'refine@1', 'refine@2'] as const;

const IntervalSchema = z.strictObject({ low: z.number(), high: z.number() });
const PairedSchema = z
  .strictObject({ estimate: z.number(), low: z.number(), high: z.number() })
  .describe('a paired difference on the same problems, with its exact McNemar-based 95 % interval');

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
  truncated: z
    .strictObject({
      responses: z.int().describe('of the responses the pairs train on, those cut at sampling.maxTokens'),
      trainerRows: z
        .int()
        .nullable()
        .describe(
          "training rows cut or dropped at trainer.maxLength (the checkpoint's truncated_rows + dropped_rows)",
        ),
    })
    .nullable()
    .describe('truncation in the training data (goal 0); null for iteration 0'),
  optimizerSteps: z.int().nullable().describe('optimizer steps the DPO job took; null for iteration 0'),
  paired: z.strictObject({ 'refine@1-direct': PairedSchema }),
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

const ComparisonSchema = PairedSchema.extend({
  iteration: z.int(),
  metric: z.enum(['direct', 'refine@1']),
});
export type Comparison = z.infer<typeof ComparisonSchema>;

const StageZeroSchema = z.strictObject({
  checkpoint: z.string().describe('pi_1: the SFT checkpoint both arms start from'),
  rows: z.int().describe('SFT rows (two per refinement demonstration: x -> y_w and c(x, y_l, z) -> y_w)'),
  seconds: z.number().describe('activity time of the SFT job'),
  ablation: z
    .array(ComparisonSchema)
    .describe('what stage 0 alone gives: pi_1 - base model on the test problems, paired, iteration 0'),
  base: z.array(MetricRowSchema).describe('the base model before stage 0, same problems, greedy'),
});

const LoadSchema = z.strictObject({
  cpus: z.int(),
  seconds: z.number().describe('how long the command watched the cores (this invocation of it)'),
  samples: z.int(),
  loadavg1: z
    .strictObject({ median: z.number(), max: z.number() })
    .describe('the 1-minute load average, sampled every 15 s'),
  cpuSeconds: z
    .strictObject({ experiment: z.number(), other: z.number() })
    .describe(
      'CPU time of the experiment (the command, the stack, the servers and trainers they start) and of every other process, from /proc',
    ),
});

/** results.json: what the table and the charts are rebuilt from (`evolve experiment render`). */
export const ExperimentResultsSchema = z.strictObject({
  smoke: z.boolean(),
  split: z.enum(['test', 'dev']),
  replicate: z
    .int()
    .min(0)
    .default(0)
    .describe(
      '`--replicate`: the training problems drawn with seeds moved by 1000 x replicate; the test problems the same',
    ),
  wallSeconds: z
    .number()
    .describe(
      "from the first start of either arm's run to the end of the last, interruptions and reruns of the command included",
    ),
  load: LoadSchema.nullable()
    .default(null)
    .describe(
      'who used the cores during the run; null without /proc or in results written before it was kept',
    ),
  stage0: StageZeroSchema.nullable().describe('the stage-0 SFT both arms share; null without stage 0'),
  arms: z.array(ArmResultsSchema),
  comparisons: z
    .array(ComparisonSchema)
    .describe('EVOLVE - Iterative DPO per iteration on direct and refine@1, paired over the test problems'),
});
export type ExperimentResults = z.infer<typeof ExperimentResultsSchema>;
