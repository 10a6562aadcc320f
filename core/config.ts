import { z } from 'zod';
import { resolveStrategy } from './strategies.js';

const BaseUrl = z.url({ protocol: /^https?$/ });

/**
 * An OpenAI-compatible endpoint: one server (`baseUrl`) or replicas of one (`baseUrls`), balanced by
 * least requests in flight. Keys are never in config: `apiKeyEnv` names the variable that holds one.
 * The tuning fields are optional so that configs (and their hashes) written before them stay valid.
 */
export const EndpointSchema = z
  .strictObject({
    baseUrl: BaseUrl.optional().describe('OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1'),
    baseUrls: z.array(BaseUrl).min(1).optional().describe('replicas serving the same models'),
    apiKeyEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name such as OPENAI_API_KEY')
      .optional(),
    maxConcurrency: z.int().min(1).max(1024).default(4).describe('requests in flight, all replicas together'),
    requestTimeoutMs: z.int().min(1000).default(300_000),
    supportsN: z
      .boolean()
      .optional()
      .describe('the server honours `n` (vLLM does; transformers serve ignores it). Default false'),
    extraBody: z
      .record(z.string(), z.json())
      .optional()
      .describe('server-specific request fields sent as-is, e.g. {top_k: 20, stop_token_ids: [2]}'),
    maxAttempts: z.int().min(1).max(50).optional().describe('tries per request. Default 8'),
    ejectCooldownMs: z
      .int()
      .min(0)
      .optional()
      .describe('how long a failing replica gets no traffic before it is probed. Default 30000'),
  })
  .refine((e) => (e.baseUrl === undefined) !== (e.baseUrls === undefined), {
    message: 'set exactly one of baseUrl and baseUrls',
    path: ['baseUrl'],
  });

/** The base URLs requests go to. */
export const replicaUrls = (endpoint: Endpoint): string[] => endpoint.baseUrls ?? [endpoint.baseUrl!];

export const PromptFileFormat = z.enum(['evolve', 'gsm8k', 'math', 'arena-hard', 'alpaca-eval']);
export type PromptFileFormat = z.infer<typeof PromptFileFormat>;

const PromptFileSource = z.strictObject({
  kind: z.literal('file'),
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
  kind: z.literal('arithmetic'),
  count: z.int().min(1).max(1_000_000),
  seed: z.int().default(1),
  maxOperand: z.int().min(2).default(20),
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
  temperature: z.number().min(0).max(2),
  topP: z.number().gt(0).max(1).default(1),
  maxTokens: z.int().min(1).max(32_768),
  seed: z.int().min(0).default(0),
});

export const RefinementSchema = z.strictObject({
  template: z.enum(['multi-turn', 'single-turn']).default('multi-turn'),
  instruction: z.string().min(1),
});

/** LLM-as-judge through chat completions. */
export const LlmJudgeSchema = z.strictObject({
  endpoint: EndpointSchema,
  model: z.string().min(1),
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
  maxScore: z.int().min(2).max(100).default(10),
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
  maxTokens: z.int().min(1).default(8),
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
  batchSize: z.int().min(1).max(1024).default(16),
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
  margin: z.number().min(0).describe('drop prompts whose chosen-rejected score gap is below this'),
  ties: z
    .enum(['prefer-refinement', 'prefer-shorter', 'drop'])
    .default('prefer-refinement')
    .describe(
      'several responses share the best (or worst) score: pick the later refinement as chosen and the earlier answer as rejected, or the shorter as chosen and the longer as rejected, or drop the prompt',
    ),
  lengthPenalty: z
    .number()
    .min(0)
    .default(0.001)
    .describe('score points per character (length-penalised-max-min)'),
  seed: z.int().min(0).default(0).describe('max-random: the draw is reproducible from (seed, prompt)'),
  refinementPairs: z.boolean().default(true).describe('false = plain iterative DPO (direct pairs only)'),
  weights: z
    .strictObject({
      direct: z.number().min(0).default(1),
      refinement: z.number().min(0).default(1),
    })
    .prefault({})
    .describe('weights of the direct and refinement terms of L_PT, written on each row'),
});

const LoraSchema = z.strictObject({
  r: z.int().min(1).default(16),
  alpha: z.int().min(1).default(32),
  dropout: z.number().min(0).max(1).default(0.05),
  targetModules: z.array(z.string().min(1)).default(['all-linear']),
});

/** What is trained and how: the same recipe whichever backend runs it. */
const recipe = {
  device: z.enum(['cuda', 'cpu']).default('cuda').describe('cpu trains in fp32 (--use_cpu); cuda in bf16'),
  beta: z.number().gt(0).default(0.1),
  learningRate: z.number().gt(0).default(5e-7),
  epochs: z.number().gt(0).default(1),
  batchSize: z.int().min(1).default(2),
  gradientAccumulation: z.int().min(1).default(1),
  maxLength: z.int().min(16).default(512),
  reference: z
    .enum(['previous', 'initial'])
    .default('previous')
    .describe('the DPO reference policy: the iterate being trained, or the initial model (policy.baseModel)'),
  sft: z
    .strictObject({
      when: z
        .enum(['never', 'first', 'every'])
        .default('never')
        .describe('self-refinement-aware SFT on sft.jsonl before DPO: in iteration 1, or in every iteration'),
      learningRate: z.number().gt(0).default(1e-5),
      epochs: z.number().gt(0).default(1),
      dataset: z
        .string()
        .min(1)
        .optional()
        .describe(
          'stage 0 on an external preference set: JSONL of TRL conversational rows {prompt, chosen, rejected} (message lists; one assistant message each for chosen and rejected), trained once before iteration 1 (x -> y_w and c(x, y_l, z) -> y_w); its result is the policy of iteration 1',
        ),
    })
    .prefault({})
    .describe('method.md Stage 0: `trl sft` on x -> y_w and c(x, y_l, z) -> y_w; DPO then trains its result'),
  lora: LoraSchema.optional().describe('train a LoRA adapter (peft) instead of all weights'),
  saveSteps: z
    .int()
    .min(1)
    .optional()
    .describe('save a resumable checkpoint every N steps (default: once per epoch)'),
  maxRestarts: z
    .int()
    .min(0)
    .max(10)
    .default(2)
    .describe('restarts of a killed trainer (local) or failed pod (backoffLimit); each resumes'),
  extraArgs: z.array(z.string()).default([]).describe('passed verbatim to `trl dpo`'),
};

const LocalTrainer = z.strictObject({
  backend: z.literal('local'),
  python: z.string().min(1).default('.evolve/venv/bin/python').describe('interpreter with trl installed'),
  ...recipe,
});

const RayTrainer = z.strictObject({
  backend: z.literal('ray'),
  address: z.url({ protocol: /^https?$/ }).describe('Ray dashboard (Jobs API), e.g. http://127.0.0.1:8265'),
  python: z.string().min(1).default('python').describe('interpreter with trl on the Ray nodes'),
  runtimeEnv: z.record(z.string(), z.unknown()).default({}).describe('Ray runtime_env of the job'),
  numGpus: z.number().min(0).default(0).describe('entrypoint_num_gpus'),
  numCpus: z.number().min(0).default(1).describe('entrypoint_num_cpus'),
  ...recipe,
});

const TolerationSchema = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(['Equal', 'Exists']).optional(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
});

const KubernetesTrainer = z.strictObject({
  backend: z.literal('kubernetes'),
  apiServer: z.url({ protocol: /^https?$/ }).describe('Kubernetes API server, e.g. https://10.0.0.1:6443'),
  tokenEnv: z
    .string()
    .regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name such as KUBE_TOKEN')
    .optional()
    .describe('variable holding the bearer token (default: the pod service account token)'),
  namespace: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a DNS-1123 label')
    .default('default'),
  image: z.string().min(1).describe('container image with trl installed'),
  python: z.string().min(1).default('python').describe('interpreter with trl in the image'),
  gpus: z.int().min(0).default(1).describe('nvidia.com/gpu limit'),
  cpu: z.string().optional().describe('cpu request, e.g. "8"'),
  memory: z.string().optional().describe('memory request, e.g. "64Gi"'),
  nodeSelector: z.record(z.string(), z.string()).default({}),
  tolerations: z.array(TolerationSchema).default([]),
  volume: z
    .strictObject({ claimName: z.string().min(1), mountPath: z.string().startsWith('/') })
    .optional()
    .describe('the PVC holding artifactRoot, mounted at the same path'),
  serviceAccountName: z.string().optional(),
  ...recipe,
});

export const TrainerSchema = z.discriminatedUnion('backend', [LocalTrainer, RayTrainer, KubernetesTrainer]);

const SuiteName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,39}$/,
    'lower-case letters, digits, "_" and "-" (max 40): it names a directory',
  );
const BenchmarkPath = z.string().min(1);

/** A pairwise benchmark judge: the LLM asked to compare an answer with the reference (or baseline) one. */
const SuiteJudgeSchema = LlmJudgeSchema.pick({
  endpoint: true,
  model: true,
  rubric: true,
  attempts: true,
}).extend({ maxTokens: z.int().min(1).optional().describe('default: 8 (alpaca-eval), 4096 (arena-hard)') });

/** Benchmark suites evaluated every iteration, each generated with the evaluation strategy. */
export const SuiteSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    name: SuiteName,
    kind: z.literal('accuracy'),
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
    kind: z.literal('alpaca-eval'),
    prompts: BenchmarkPath.describe('AlpacaEval JSON array: each instruction with the reference output'),
    limit: z.int().min(1).optional(),
    judge: SuiteJudgeSchema,
    difficulty: BenchmarkPath.optional().describe(
      'instruction_difficulty.csv: adds the length-controlled win rate',
    ),
    seed: z.int().min(0).default(0).describe('the per-row draw of which output the judge sees first'),
  }),
  z.strictObject({
    name: SuiteName,
    kind: z.literal('arena-hard'),
    prompts: BenchmarkPath.describe('Arena-Hard question.jsonl'),
    limit: z.int().min(1).optional(),
    baseline: BenchmarkPath.describe('the baseline model_answer/<model>.jsonl, e.g. gpt-4-0314.jsonl'),
    judge: SuiteJudgeSchema,
    bootstrapRounds: z.int().min(1).max(10_000).default(100),
    seed: z.int().default(42).describe('bootstrap seed'),
  }),
]);

export const EvaluationSchema = z
  .strictObject({
    prompts: PromptSourceSchema,
    strategy: StrategyNameSchema.default('chain'),
    samples: z.int().min(1).max(64).default(4).describe('N, for parallel, parallel-refine and tree'),
    refineRounds: z.int().min(0).max(8).default(1).describe('K-1, for chain and tree'),
    keep: KeepSchema.optional().describe('default: best for tree, last for the others'),
    temperature: z.number().min(0).max(2).default(0),
    maxTokens: z.int().min(1).optional(),
    keepBest: z
      .boolean()
      .optional()
      .describe('an iteration scoring below the best so far hands the best checkpoint to the next one'),
    suites: z
      .array(SuiteSchema)
      .optional()
      .describe('benchmark suites scored every iteration besides `prompts`, with the same strategy'),
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
        .default(900_000)
        .describe('how long every replica may take to answer /health and list the checkpoint'),
    })
    .describe(
      'full weights: the hook restarts the server with the checkpoint, then every replica is awaited',
    ),
]);

const RunIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lower-case letters, digits, ".", "_" and "-" (max 63)');

export const RunConfigSchema = z
  .strictObject({
    runId: RunIdSchema,
    iterations: z.int().min(1).max(1000),
    artifactRoot: z.string().min(1),
    reuseFrom: z
      .array(RunIdSchema)
      .optional()
      .describe('earlier runs (ids under the same artifactRoot) whose finished steps this run reuses'),
    policy: z.strictObject({
      endpoint: EndpointSchema,
      baseModel: z.string().min(1).describe('model name or checkpoint path the server serves'),
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
    maxShardsInFlight: z.int().min(1).max(256).default(4),
    sampling: SamplingSchema,
    refinement: RefinementSchema,
    judge: JudgeSchema,
    pairing: PairingSchema,
    trainer: TrainerSchema,
    evaluation: EvaluationSchema,
  })
  // Training data needs two responses per prompt, and last-vs-first a refinement, or nothing is paired.
  .superRefine(({ sampling, pairing, policy, trainer }, ctx) => {
    // vLLM serves a LoRA over the base model it was started with: full weights cannot be hot-loaded.
    if (policy.serve?.kind === 'vllm-lora' && !trainer.lora) {
      ctx.addIssue({
        code: 'custom',
        path: ['policy', 'serve', 'kind'],
        message: 'vllm-lora serves each checkpoint as a LoRA adapter: it needs trainer.lora (LoRA training)',
      });
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
export type Endpoint = z.infer<typeof EndpointSchema>;
export type PromptSource = z.infer<typeof PromptSourceSchema>;
export type Sampling = z.infer<typeof SamplingSchema>;
export type Refinement = z.infer<typeof RefinementSchema>;
export type Judge = z.infer<typeof JudgeSchema>;
export type LlmJudge = z.infer<typeof LlmJudgeSchema>;
export type RewardModel = z.infer<typeof RewardModelSchema>;
export type Pairing = z.infer<typeof PairingSchema>;
export type Trainer = z.infer<typeof TrainerSchema>;
export type Evaluation = z.infer<typeof EvaluationSchema>;
export type Serve = z.infer<typeof ServeSchema>;
export type Suite = z.infer<typeof SuiteSchema>;
export type StrategyName = z.infer<typeof StrategyNameSchema>;
export type Keep = z.infer<typeof KeepSchema>;
export type Lora = z.infer<typeof LoraSchema>;
export type KubernetesTrainer = z.infer<typeof KubernetesTrainer>;
export type RayTrainer = z.infer<typeof RayTrainer>;
export type LocalTrainer = z.infer<typeof LocalTrainer>;

/** Thrown for input a user must fix; its message names the offending key paths. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Each problem as (key path, what was expected): unknown keys one by one, missing keys as "required". */
export function describeIssues(
  error: z.ZodError,
  input: unknown,
): { path: PropertyKey[]; message: string }[] {
  const valueAt = (path: PropertyKey[]) =>
    path.reduce<unknown>(
      (node, key) =>
        node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[key] : undefined,
      input,
    );
  return error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: [...issue.path, key], message: 'unknown key' }));
    }
    if (issue.code === 'invalid_type' && valueAt(issue.path) === undefined) {
      return [{ path: issue.path, message: `required: expected ${issue.expected}` }];
    }
    return [{ path: issue.path, message: issue.message }];
  });
}

export const keyPath = (path: PropertyKey[]) => path.map(String).join('.') || '(root)';

/** One line per problem: `key.path: what was expected`. */
export function formatIssues(error: z.ZodError, input: unknown, source = 'config'): string {
  const lines = describeIssues(error, input).map(({ path, message }) => `  ${keyPath(path)}: ${message}`);
  return `${source} is invalid:\n${lines.join('\n')}`;
}

export function parseRunConfig(input: unknown, source = 'config'): RunConfig {
  const parsed = RunConfigSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error, input, source));
  return parsed.data;
}

/** Keys fixed for the life of a run: they name it, place its artifacts and start its policy chain. */
export const FIXED_KEYS = ['runId', 'artifactRoot', 'policy.baseModel'] as const;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Objects merge key by key; anything else (numbers, strings, lists) replaces the old value. */
function merge(base: unknown, patch: unknown): unknown {
  if (!isObject(base) || !isObject(patch)) return patch;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) out[key] = merge(base[key], value);
  return out;
}

/** Key paths whose values differ between two configs (leaves only). */
function changedPaths(before: unknown, after: unknown, prefix: string[] = []): string[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((k) => changedPaths(before[k], after[k], [...prefix, k]));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [keyPath(prefix)];
}

export interface ConfigUpdate {
  config: RunConfig;
  /** Key paths the update changed, e.g. `sampling.temperature`. */
  changed: string[];
}

/**
 * A running run's config with `patch` merged in, validated by the same schema as a new run. Fixed
 * keys may not change, and `iterations` may not drop below the iterations already started.
 */
export function applyConfigUpdate(current: RunConfig, patch: unknown, started: number): ConfigUpdate {
  const source = 'config update';
  if (!isObject(patch))
    throw new ConfigError(`${source} is invalid:\n  (root): expected an object of keys to change`);
  const merged = merge(current, patch);
  const config = parseRunConfig(merged, source);
  const changed = changedPaths(current, config);
  const problems = [
    ...changed
      .filter((path) => FIXED_KEYS.some((fixed) => path === fixed || path.startsWith(`${fixed}.`)))
      .map((path) => `  ${path}: fixed for the life of a run; start a new run to change it`),
    ...(config.iterations < started
      ? [`  iterations: must be at least ${started} (iterations already started)`]
      : []),
  ];
  if (problems.length > 0) throw new ConfigError(`${source} is invalid:\n${problems.join('\n')}`);
  return { config, changed };
}
