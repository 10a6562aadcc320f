import { z } from 'zod';
import { EndpointSchema, MAX_TIMEOUT_MS } from './endpoint.js';
import { KeepSchema, PromptSource, PromptSourceSchema, StrategyNameSchema } from './generation.js';
import { LlmJudgeSchema } from './judging.js';

const SuiteName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,39}$/,
    'lower-case letters, digits, "_" and "-" (max 40): it names a directory',
  )
  .describe('names the suite and its directory iter-<t>/suite-<name>/');
const BenchmarkPath = z.string().min(1);

const OfficialJudgeModel = z
  .string()
  .min(1)
  .optional()
  .describe(
    "the judge model sent, as the server names it (default: the official config's). Another judge gives a number that is not the leaderboard's",
  );

/** AlpacaEval 2's official annotator, read from alpaca-eval's own files. */
const AlpacaEvalJudgeSchema = z.strictObject({
  endpoint: LlmJudgeSchema.shape.endpoint,
  model: OfficialJudgeModel,
  annotator: BenchmarkPath.optional().describe(
    "the annotator's configs.yaml (default: alpaca-eval 0.6.6's weighted_alpaca_eval_gpt4_turbo, installed by the bootstrap under $EVOLVE_HOME)",
  ),
});

/** Arena-Hard v0.1's official judge, read from the judge_config.yaml the user points to. */
const ArenaHardJudgeSchema = z.strictObject({
  endpoint: LlmJudgeSchema.shape.endpoint,
  model: OfficialJudgeModel,
  config: BenchmarkPath.describe(
    "arena-hard-auto's config/judge_config.yaml (v0.1): system prompt, template, judge model, temperature, max tokens, regex, attempts",
  ),
});

/** Benchmark suites evaluated every iteration, each generated with the evaluation strategy. */
export const SuiteSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    name: SuiteName,
    kind: z.literal('accuracy').describe('accuracy of the kept answer by a verifier, e.g. GSM8K or MATH-500'),
    prompts: PromptSourceSchema.describe(
      'prompts with gold answers, e.g. GSM8K or MATH-500 (format gsm8k, math)',
    ),
    verifier: z
      .enum(['numeric', 'math'])
      .default('numeric')
      .describe('numeric: GSM8K extractors (strict, boxed, flexible); math: boxed with MATH equivalence'),
  }),
  z.strictObject({
    name: SuiteName,
    kind: z
      .literal('alpaca-eval')
      .describe(
        "AlpacaEval 2: win rate against the reference outputs, judged by the official annotator (alpaca-eval's weighted_alpaca_eval_gpt4_turbo)",
      ),
    prompts: BenchmarkPath.describe('AlpacaEval JSON array: each instruction with the reference output'),
    limit: z.int().min(1).optional().describe('score only the first `limit` prompts'),
    judge: AlpacaEvalJudgeSchema,
    difficulty: BenchmarkPath.optional().describe(
      'instruction_difficulty.csv: adds the length-controlled win rate',
    ),
    seed: z
      .int()
      .min(0)
      .default(0)
      .describe("the annotator's seed, which draws the output shown first per instruction (official: 0)"),
  }),
  z.strictObject({
    name: SuiteName,
    kind: z
      .literal('arena-hard')
      .describe(
        'Arena-Hard v0.1: Bradley-Terry score against a baseline model, judged by the official judge (gen_judgment.py with the judge_config.yaml given)',
      ),
    prompts: BenchmarkPath.describe('Arena-Hard question.jsonl'),
    limit: z.int().min(1).optional().describe('score only the first `limit` prompts'),
    baseline: BenchmarkPath.describe('the baseline model_answer/<model>.jsonl, e.g. gpt-4-0314.jsonl'),
    judge: ArenaHardJudgeSchema,
    bootstrapRounds: z
      .int()
      .min(1)
      .max(10_000)
      .default(100)
      .describe('bootstrap rounds of the 95 % interval of the score'),
    seed: z.int().default(42).describe('bootstrap seed'),
  }),
]);

export const EvaluationSchema = z
  .strictObject({
    prompts: PromptSourceSchema.describe('held-out prompts with gold answers: the accuracy set'),
    strategy: StrategyNameSchema.default('chain'),
    samples: z.int().min(1).max(64).default(4).describe('N, for parallel, parallel-refine and tree'),
    refineRounds: z.int().min(0).max(8).default(1).describe('K-1, for chain and tree'),
    keep: KeepSchema.optional().describe('default: best for tree, last for the others'),
    temperature: z.number().min(0).max(2).default(0).describe('sampling temperature of the evaluation'),
    maxTokens: z.int().min(1).optional().describe('most tokens per response (default: sampling.maxTokens)'),
    endpoint: EndpointSchema.optional().describe(
      'the server the evaluation generates on (default: policy.endpoint), e.g. one that batches at temperature 0 while the policy server samples; it loads each checkpoint by path',
    ),
    keepBest: z
      .boolean()
      .optional()
      .describe('an iteration scoring below the best so far hands the best checkpoint to the next one'),
    suites: z
      .array(SuiteSchema)
      .optional()
      .describe('benchmark suites scored every iteration besides `prompts`, with the same strategy'),
    judgeAccuracy: z
      .boolean()
      .optional()
      .describe(
        "count the judge's top score as correct on evaluation prompts without a gold answer. Without it such prompts are refused: accuracy needs gold answers",
      ),
    // No default: a filled-in default would change the hash of every existing run's config.
    iterationZero: z
      .boolean()
      .optional()
      .describe(
        'evaluate the initial policy (and score the suites) as iteration 0, before iteration 1 trains. Default true',
      ),
  })
  .refine((e) => new Set(e.suites?.map((s) => s.name)).size === (e.suites?.length ?? 0), {
    path: ['suites'],
    message: 'suite names must be unique',
  })
  .superRefine((e, ctx) => {
    // Curves compare iterations on the same prompts: per-iteration slices are for training prompts only.
    const sources: [PropertyKey[], PromptSource][] = [
      [['prompts'], e.prompts],
      ...(e.suites ?? []).flatMap((s, i): [PropertyKey[], PromptSource][] =>
        s.kind === 'accuracy' ? [[['suites', i, 'prompts'], s.prompts]] : [],
      ),
    ];
    for (const [path, source] of sources)
      if (source.kind === 'file' && source.perIteration !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [...path, 'perIteration'],
          message: 'evaluation prompts are the same every iteration: perIteration is for training prompts',
        });
  })
  .refine(
    (e) =>
      e.temperature > 0 || e.samples === 1 || !['parallel', 'parallel-refine', 'tree'].includes(e.strategy),
    {
      path: ['temperature'],
      message: 'parallel samples at temperature 0 are all the same answer: set a temperature above 0',
    },
  );

/**
 * How the policy server takes a new checkpoint. Optional in the config (absent = by-path), so configs
 * and their hashes written before it stay valid.
 */
export const ServeSchema = z.discriminatedUnion('kind', [
  z
    .strictObject({ kind: z.literal('by-path') })
    .describe('transformers serve: loads a checkpoint by path on its first request'),
  z
    .strictObject({ kind: z.literal('vllm-lora') })
    .describe(
      'vLLM with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True: each checkpoint is a LoRA adapter named by its path, loaded on every replica after the previous one is unloaded',
    ),
  z
    .strictObject({
      kind: z.literal('restart'),
      command: z
        .array(z.string().min(1))
        .min(1)
        .describe('argv of the restart hook, run once per checkpoint; "{checkpoint}" becomes its path'),
      healthTimeoutMs: z
        .int()
        .min(1000)
        .max(MAX_TIMEOUT_MS)
        .default(900_000)
        .describe('how long every replica may take to answer /health and list the checkpoint'),
    })
    .describe(
      'full weights: the hook restarts the server with the checkpoint, then every replica is awaited',
    ),
]);

export type Evaluation = z.infer<typeof EvaluationSchema>;
export type Serve = z.infer<typeof ServeSchema>;
export type Suite = z.infer<typeof SuiteSchema>;
