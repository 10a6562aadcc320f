import { z } from 'zod';
import { resolveStrategy } from '../strategies.js';
import { EndpointSchema } from './endpoint.js';
import { EvaluationSchema, ServeSchema } from './evaluation.js';
import { PromptSourceSchema, RefinementSchema, SamplingSchema } from './generation.js';
import { JudgeSchema, PairingSchema } from './judging.js';
import { TrainerSchema } from './trainer.js';

export const RunIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lower-case letters, digits, ".", "_" and "-" (max 63)');

export const RunConfigSchema = z
  .strictObject({
    runId: RunIdSchema.describe('name of the run and its workflow id'),
    iterations: z
      .int()
      .min(0)
      .max(1000)
      .describe(
        'T: the number of iterations; 0 evaluates the initial policy only (stage 0, if configured, then iteration 0)',
      ),
    artifactRoot: z
      .string()
      .min(1)
      .describe("where artifacts go; a relative path resolves against the worker's working directory"),
    reuseFrom: z
      .array(RunIdSchema)
      .optional()
      .describe('earlier runs (ids under the same artifactRoot) whose finished steps this run reuses'),
    policy: z.strictObject({
      endpoint: EndpointSchema.describe('the OpenAI-compatible server of the policy being trained'),
      baseModel: z
        .string()
        .min(1)
        .describe('the model served at iteration 1: a name or a checkpoint path the server can load'),
      serve: ServeSchema.optional().describe('how the server takes each new checkpoint (default by-path)'),
    }),
    prompts: z.array(PromptSourceSchema).min(1).describe('training prompts: the sources are concatenated'),
    shardSize: z.int().min(1).max(100_000).default(64).describe('prompts per shard, at least'),
    maxShards: z
      .int()
      .min(1)
      .max(1000)
      .default(50)
      .describe('most shards per phase: past it shards grow, so the iteration history stays bounded'),
    maxShardsInFlight: z
      .int()
      .min(1)
      .max(256)
      .default(4)
      .describe('shards sampled, refined and judged at once (the sliding window)'),
    sampling: SamplingSchema,
    refinement: RefinementSchema,
    judge: JudgeSchema,
    pairing: PairingSchema,
    trainer: TrainerSchema,
    evaluation: EvaluationSchema,
  })
  // Training data needs two responses per prompt, and last-vs-first a refinement, or nothing is paired.
  .superRefine(({ iterations, sampling, pairing, policy, trainer, evaluation }, ctx) => {
    if (iterations === 0 && evaluation.iterationZero === false) {
      ctx.addIssue({
        code: 'custom',
        path: ['iterations'],
        message:
          'iterations 0 runs iteration 0 only, and evaluation.iterationZero false turns it off: nothing to run',
      });
    }
    // Only the policy endpoint is told of a new checkpoint: another server must load it by path.
    if (evaluation.endpoint && (policy.serve?.kind ?? 'by-path') !== 'by-path') {
      ctx.addIssue({
        code: 'custom',
        path: ['evaluation', 'endpoint'],
        message: `policy.serve.kind ${policy.serve?.kind} loads checkpoints on the policy endpoint only: evaluation.endpoint needs policy.serve.kind by-path`,
      });
    }
    // vLLM serves a LoRA over the base model it was started with: full weights cannot be hot-loaded.
    if (policy.serve?.kind === 'vllm-lora' && !trainer.lora) {
      ctx.addIssue({
        code: 'custom',
        path: ['policy', 'serve', 'kind'],
        message: 'vllm-lora serves each checkpoint as a LoRA adapter: it needs trainer.lora (LoRA training)',
      });
    }
    if (trainer.loss === 'srpo') {
      // SRPO's loss has its own terms: the pair rows' weights would weight nothing, so they are refused.
      if (!pairing.refinementPairs) {
        ctx.addIssue({
          code: 'custom',
          path: ['pairing', 'refinementPairs'],
          message:
            'trainer.loss srpo reads c(x, y_l, z) from the refinement rows: set pairing.refinementPairs true',
        });
      }
      if (pairing.weights.direct !== 1 || pairing.weights.refinement !== 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['pairing', 'weights'],
          message:
            'pairing.weights weight the terms of the dpo loss; trainer.loss srpo has its own (srpoAlpha)',
        });
      }
    }
    const { name, samples, depth } = resolveStrategy(
      sampling.strategy,
      sampling.samples,
      sampling.chainDepth,
    );
    if (samples * depth < 2) {
      ctx.addIssue({
        code: 'custom',
        path: ['sampling', 'strategy'],
        message: `${name} with samples ${sampling.samples} and chainDepth ${sampling.chainDepth} collects one response per prompt: nothing to pair`,
      });
    } else if (pairing.rule === 'last-vs-first' && depth < 2) {
      ctx.addIssue({
        code: 'custom',
        path: ['pairing', 'rule'],
        message: `last-vs-first pairs a refinement with its first answer, and sampling.strategy ${name} does not refine`,
      });
    }
  });

export type RunConfig = z.infer<typeof RunConfigSchema>;
export type RunConfigInput = z.input<typeof RunConfigSchema>;
