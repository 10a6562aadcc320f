import { z } from 'zod';

export const PromptFileFormat = z.enum(['evolve', 'gsm8k', 'math', 'arena-hard', 'alpaca-eval']);
export type PromptFileFormat = z.infer<typeof PromptFileFormat>;

const PromptFileSource = z.strictObject({
  kind: z.literal('file').describe('a prompt file'),
  path: z.string().min(1).describe('the prompt file, in `format`'),
  // No default: a filled-in default would change the hash of every existing run's config.
  format: PromptFileFormat.optional().describe(
    'evolve (JSONL of {"id", "prompt", "answer"?}, the default), gsm8k or math (official JSONL), arena-hard (question.jsonl), alpaca-eval (JSON array)',
  ),
  limit: z.int().min(1).optional().describe('the first `limit` rows of the file are the pool'),
  perIteration: z
    .int()
    .min(1)
    .optional()
    .describe(
      'fresh prompts per iteration: iteration t trains on rows (t-1)*perIteration.. of the pool shuffled with `seed`, disjoint across iterations. Absent: every iteration gets the whole pool',
    ),
  seed: z.int().min(0).optional().describe('the shuffle behind perIteration. Default 0'),
});
const ArithmeticSource = z.strictObject({
  kind: z
    .literal('arithmetic')
    .describe('generated arithmetic word problems with gold answers, fresh each iteration for training'),
  count: z.int().min(1).max(1_000_000).describe('word problems generated'),
  seed: z.int().default(1).describe('generator seed; training prompts add the iteration to it'),
  maxOperand: z.int().min(2).default(20).describe('largest operand of a problem'),
  ask: z
    .string()
    .min(1)
    .optional()
    .describe(
      'the sentence that ends each problem, how to answer (e.g. a short format ending in the number). Default "Give the final number."',
    ),
});
export const PromptSourceSchema = z.discriminatedUnion('kind', [PromptFileSource, ArithmeticSource]);

/**
 * The inference strategies of method.md. Each one is a trajectory shape (N chains of depth K) and a
 * rule that keeps one answer per prompt; every response of the trajectory is recorded, not only the kept one.
 */
export const StrategyNameSchema = z
  .enum(['direct', 'parallel', 'chain', 'parallel-refine', 'tree'])
  .describe(
    'direct: 1 answer; parallel: N answers, best by the judge; chain: 1 answer refined to depth K; ' +
      'parallel-refine: N answers each refined once; tree: N chains of depth K',
  );

export const KeepSchema = z
  .enum(['last', 'best'])
  .describe("last: the best chain's latest response; best: the best response of any step");

export const SamplingSchema = z.strictObject({
  strategy: StrategyNameSchema.default('tree').describe(
    'the trajectory collected as training data; tree = N chains of depth K',
  ),
  samples: z.int().min(1).max(64).describe('N answers per prompt'),
  chainDepth: z.int().min(1).max(16).describe('K responses per chain: the answer and K-1 refinements'),
  temperature: z.number().min(0).max(2).describe('sampling temperature of answers and refinements'),
  topP: z.number().gt(0).max(1).default(1).describe('nucleus sampling: top-p'),
  maxTokens: z
    .int()
    .min(1)
    .max(32_768)
    .describe('most tokens per response; a longer one is flagged truncated'),
  seed: z.int().min(0).default(0).describe('each request gets a distinct seed derived from it'),
});

export const RefinementSchema = z.strictObject({
  template: z
    .enum(['multi-turn', 'single-turn'])
    .default('multi-turn')
    .describe(
      'the refinement context c(x, y, z): multi-turn is user x / assistant y / user z; single-turn puts x, y and z in one user message',
    ),
  instruction: z.string().min(1).describe('z: the instruction that asks the model to refine its answer'),
});

export type PromptSource = z.infer<typeof PromptSourceSchema>;
export type Sampling = z.infer<typeof SamplingSchema>;
export type Refinement = z.infer<typeof RefinementSchema>;

export type StrategyName = z.infer<typeof StrategyNameSchema>;
export type Keep = z.infer<typeof KeepSchema>;
