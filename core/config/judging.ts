import { z } from 'zod';
import { EndpointSchema } from './endpoint.js';

/** LLM-as-judge through chat completions. */
export const LlmJudgeSchema = z.strictObject({
  endpoint: EndpointSchema.describe("the judge's OpenAI-compatible server"),
  model: z.string().min(1).describe('the judge model, as the server names it'),
  mode: z
    .enum(['pointwise', 'pairwise-logprobs', 'pairwise-verdict'])
    .default('pointwise')
    .describe(
      'pointwise: a rubric score per response; pairwise-logprobs: AlpacaEval-style P(label) from the first token; pairwise-verdict: Arena-Hard [[A>>B]]..[[B>>A]] labels, both orders played',
    ),
  rubric: z
    .string()
    .min(1)
    .describe('pointwise: the grading instructions; pairwise: the comparison instructions'),
  maxScore: z.int().min(2).max(100).default(10).describe('pointwise: scores run from 1 to maxScore'),
  structuredOutput: z
    .boolean()
    .default(false)
    .describe(
      'pointwise: ask for {"score": n} with response_format json_schema (vLLM, OpenAI) and validate it',
    ),
  attempts: z
    .int()
    .min(1)
    .max(10)
    .default(3)
    .describe('asks per verdict before it is recorded as unparseable'),
  maxTokens: z.int().min(1).default(8).describe('most tokens of one verdict'),
});

/** A reward model behind HTTP: vLLM's pooling API or OpenRLHF's reward server. */
export const RewardModelSchema = z.strictObject({
  api: z
    .enum(['vllm-classify', 'vllm-pooling', 'openrlhf'])
    .describe(
      'vllm-classify: POST /classify with the activation off; vllm-pooling: POST /pooling; openrlhf: POST /get_reward',
    ),
  endpoint: EndpointSchema.describe('baseUrl is the server root, e.g. http://127.0.0.1:8001'),
  model: z.string().min(1).optional().describe('the served model name (vLLM)'),
  input: z
    .enum(['messages', 'text'])
    .default('messages')
    .describe('messages: the server applies its chat template (vLLM); text: render with chatTemplate here'),
  chatTemplate: z
    .string()
    .includes('{prompt}')
    .includes('{response}')
    .optional()
    .describe('text input: the rendered conversation, with {prompt} and {response} placeholders'),
  bosToken: z
    .string()
    .min(1)
    .optional()
    .describe('stripped from the front of rendered text, because the server tokenizer adds its own'),
  batchSize: z
    .int()
    .min(1)
    .max(1024)
    .default(16)
    .describe('responses scored per request (text input; chat messages go one per request)'),
  attempts: z.int().min(1).max(10).default(3).describe('asks per batch before a bad reply is recorded'),
});

export const JudgeSchema = z
  .strictObject({
    kind: z
      .enum(['llm', 'reward-model', 'none'])
      .default('llm')
      .describe('judges prompts without a gold answer; none = no judge (rule-based pairing)'),
    verifier: z
      .enum(['numeric', 'math'])
      .default('numeric')
      .describe('used for prompts that carry a gold answer: numeric (GSM8K) or math (MATH, boxed)'),
    llm: LlmJudgeSchema.optional(),
    rewardModel: RewardModelSchema.optional(),
    cacheDir: z
      .string()
      .min(1)
      .optional()
      .describe('verdicts keyed by (judge, prompt, response); default <artifactRoot>/judge-cache'),
  })
  .superRefine((judge, ctx) => {
    const needs = { llm: 'llm', 'reward-model': 'rewardModel' } as const;
    const key = judge.kind === 'none' ? undefined : needs[judge.kind];
    if (key && judge[key] === undefined)
      ctx.addIssue({ code: 'custom', path: [key], message: `required when kind is "${judge.kind}"` });
    const rm = judge.rewardModel;
    if (rm && (rm.input === 'text' || rm.api === 'openrlhf') && rm.chatTemplate === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['rewardModel', 'chatTemplate'],
        message: 'required for text input (OpenRLHF takes rendered text only)',
      });
  });

export const PairingSchema = z.strictObject({
  rule: z
    .enum(['max-min', 'max-random', 'last-vs-first', 'length-penalised-max-min'])
    .default('max-min')
    .describe(
      'max-min: best vs worst by the judge; max-random: best vs a random lower-scored one; last-vs-first: last refinement vs first answer, no judge; length-penalised-max-min: max-min on score - lengthPenalty * characters',
    ),
  margin: z.number().min(0).max(1e6).describe('drop prompts whose chosen-rejected score gap is below this'),
  ties: z
    .enum(['prefer-refinement', 'prefer-shorter', 'drop'])
    .default('prefer-refinement')
    .describe(
      'several responses share the best (or worst) score: pick the later refinement as chosen and the earlier answer as rejected, or the shorter as chosen and the longer as rejected, or drop the prompt',
    ),
  lengthPenalty: z
    .number()
    .min(0)
    .max(1000)
    .default(0.001)
    .describe('score points per character (length-penalised-max-min)'),
  seed: z.int().min(0).default(0).describe('max-random: the draw is reproducible from (seed, prompt)'),
  refinementPairs: z.boolean().default(true).describe('false = plain iterative DPO (direct pairs only)'),
  weights: z
    .strictObject({
      direct: z.number().min(0).max(1000).default(1).describe('weight of the direct term'),
      refinement: z.number().min(0).max(1000).default(1).describe('weight of the refinement term'),
    })
    .prefault({})
    .describe('weights of the direct and refinement terms of L_PT, written on each row'),
});

export type Judge = z.infer<typeof JudgeSchema>;
export type LlmJudge = z.infer<typeof LlmJudgeSchema>;
export type RewardModel = z.infer<typeof RewardModelSchema>;
export type Pairing = z.infer<typeof PairingSchema>;
