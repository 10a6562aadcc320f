import { z } from 'zod';
import {
  CREDENTIAL_FIELD,
  CREDENTIAL_VARIABLE,
  credentialKeyPaths,
  mayCarryKey,
  secretNameProblem,
  urlCredentialProblem,
  type SecretKind,
} from './secrets.js';
import { resolveStrategy } from './strategies.js';

/** An http(s) URL with no credentials in it: the config is workflow input, stored in the history. */
const HttpUrl = z.url({ protocol: /^https?$/ }).superRefine((url, ctx) => {
  const problem = urlCredentialProblem(url);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const BaseUrl = HttpUrl;

/** The name of a variable holding a key; the worker's own credentials are never one (core/secrets.ts). */
const secretName = (kind: SecretKind, example: string) =>
  z
    .string()
    .regex(/^[A-Z_][A-Z0-9_]*$/, `an environment variable name such as ${example}`)
    .superRefine((name, ctx) => {
      const problem = secretNameProblem(name, kind);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

/** One issue per key under `value` that carries a credential. */
const refuseCredentialKeys = (value: unknown, pattern: RegExp, ctx: z.RefinementCtx, what: string) => {
  for (const path of credentialKeyPaths(value, pattern))
    ctx.addIssue({
      code: 'custom',
      path,
      message: `${what} would land in the run history: keep credentials out of the config`,
    });
};

/** Upper bound of every timeout: a day. Past it a typo (an extra digit) would hang a step for weeks. */
const MAX_TIMEOUT_MS = 86_400_000;

/**
 * An OpenAI-compatible endpoint: one server (`baseUrl`) or replicas of one (`baseUrls`), balanced by
 * least requests in flight. Keys are never in config: `apiKeyEnv` names the variable that holds one.
 * The tuning fields are optional so that configs (and their hashes) written before them stay valid.
 */
export const EndpointSchema = z
  .strictObject({
    baseUrl: BaseUrl.optional().describe('OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1'),
    baseUrls: z.array(BaseUrl).min(1).optional().describe('replicas serving the same models'),
    apiKeyEnv: secretName('apiKey', 'OPENAI_API_KEY')
      .optional()
      .describe(
        'the variable holding the bearer key: named *_API_KEY or listed in EVOLVE_SECRET_ENV; sent only over https or to loopback',
      ),
    maxConcurrency: z.int().min(1).max(1024).default(4).describe('requests in flight, all replicas together'),
    requestTimeoutMs: z.int().min(1000).max(3_600_000).default(300_000).describe('per request, at most 1 h'),
    supportsN: z
      .boolean()
      .optional()
      .describe('the server honours `n` (vLLM does; transformers serve ignores it). Default false'),
    extraBody: z
      .record(z.string(), z.json())
      .superRefine((body, ctx) => refuseCredentialKeys(body, CREDENTIAL_FIELD, ctx, 'a credential field'))
      .optional()
      .describe('server-specific request fields sent as-is, e.g. {top_k: 20, stop_token_ids: [2]}'),
    maxAttempts: z
      .int()
      .min(1)
      .max(50)
      .optional()
      .describe('tries per request while the server answers other requests. Default 8'),
    outageBudgetHours: z
      .number()
      .positive()
      .optional()
      .describe(
        'how long requests wait out a server that is down (connection errors, timeouts, 5xx) before the step fails. Default 24',
      ),
    ejectCooldownMs: z
      .int()
      .min(0)
      .max(MAX_TIMEOUT_MS)
      .optional()
      .describe('how long a failing replica gets no traffic before it is probed. Default 30000'),
  })
  .refine((e) => (e.baseUrl === undefined) !== (e.baseUrls === undefined), {
    message: 'set exactly one of baseUrl and baseUrls',
    path: ['baseUrl'],
  })
  .superRefine((e, ctx) => {
    if (!e.apiKeyEnv) return;
    const urls: [(string | number)[], string | undefined][] = [
      [['baseUrl'], e.baseUrl],
      ...(e.baseUrls ?? []).map((url, i): [(string | number)[], string] => [['baseUrls', i], url]),
    ];
    for (const [path, url] of urls)
      if (url && URL.canParse(url) && !mayCarryKey(url))
        ctx.addIssue({
          code: 'custom',
          path,
          message: `the key in ${e.apiKeyEnv} goes only over https, or over http to this machine (loopback)`,
        });
  });

/** The base URLs requests go to. */
export const replicaUrls = (endpoint: Endpoint): string[] => endpoint.baseUrls ?? [endpoint.baseUrl!];

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
      direct: z.number().min(0).default(1).describe('weight of the direct term'),
      refinement: z.number().min(0).default(1).describe('weight of the refinement term'),
    })
    .prefault({})
    .describe('weights of the direct and refinement terms of L_PT, written on each row'),
});

const LoraSchema = z.strictObject({
  r: z.int().min(1).default(16).describe('adapter rank (--lora_r)'),
  alpha: z.int().min(1).default(32).describe('adapter scaling (--lora_alpha)'),
  dropout: z.number().min(0).max(1).default(0.05).describe('--lora_dropout'),
  targetModules: z
    .array(z.string().min(1))
    .default(['all-linear'])
    .describe('modules that get an adapter (--lora_target_modules)'),
});

/** How the trainer's processes are started: one python process, or `accelerate launch` with several. */
const LauncherSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('python').describe('one trainer process') }),
    z.strictObject({
      kind: z.literal('accelerate').describe('`accelerate launch` with numProcesses processes'),
      numProcesses: z.int().min(1).max(1024).describe('processes in all (one per GPU; on the CPU, gloo)'),
      config: z
        .string()
        .min(1)
        .optional()
        .describe(
          'an accelerate config file: deploy/trainer/accelerate/zero3.yaml (DeepSpeed ZeRO-3), deploy/trainer/accelerate/fsdp.yaml (FSDP), or your own; copied into the job; absent: plain data parallel (torchrun)',
        ),
    }),
  ])
  .prefault({ kind: 'python' })
  .describe('python: one process; accelerate: `accelerate launch` (every backend runs the same command)');

/** What is trained and how: the same recipe whichever backend runs it. */
const recipe = {
  launcher: LauncherSchema,
  device: z.enum(['cuda', 'cpu']).default('cuda').describe('cpu trains in fp32 (--use_cpu); cuda in bf16'),
  beta: z.number().gt(0).default(0.1).describe('DPO beta: how far the policy may move from the reference'),
  loss: z
    .enum(['dpo', 'srpo'])
    .default('dpo')
    .describe(
      'dpo: L_PT over the pair rows, each scaled by its weight (pairing.weights); srpo: the SRPO baseline loss (Choi et al. 2024) on each triple, which scores both answers under c(x, y_l) and c(x, y_w) itself (needs pairing.refinementPairs, whose rows carry c(x, y_l, z))',
    ),
  nll: z
    .number()
    .min(0)
    .default(0)
    .describe('RPO-style NLL term: alpha * -log pi(y_w|prompt) / |y_w| added to each row loss (0 = none)'),
  srpoAlpha: z
    .number()
    .min(0)
    .max(1)
    .default(0.5)
    .describe("SRPO's mix: (1 - alpha) * generative term + alpha * self-improvement term (loss srpo)"),
  learningRate: z.number().gt(0).default(5e-7).describe('DPO learning rate'),
  epochs: z.number().gt(0).default(1).describe('DPO epochs over the pairs'),
  batchSize: z.int().min(1).default(2).describe('per-device batch size'),
  gradientAccumulation: z.int().min(1).default(1).describe('gradient accumulation steps'),
  maxLength: z.int().min(16).default(512).describe('most tokens of a training row (--max_length)'),
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
      learningRate: z.number().gt(0).default(1e-5).describe('SFT learning rate'),
      epochs: z.number().gt(0).default(1).describe('SFT epochs'),
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
  extraArgs: z
    .array(z.string())
    .default([])
    .describe('passed verbatim to `trl dpo` (TRL DPOConfig flags; an unknown flag fails the job)'),
};

/** A cluster's API, followed for days: it may be down for a while (an upgrade, a restarted head node). */
const backendOutageBudget = z
  .number()
  .positive()
  .optional()
  .describe(
    'how long the cluster API is waited for while it is down (connection errors, timeouts, 5xx) before the step fails. Default 24',
  );

const LocalTrainer = z.strictObject({
  backend: z.literal('local').describe("a detached child process on the worker's machine"),
  python: z.string().min(1).default('.evolve/venv/bin/python').describe('interpreter with trl installed'),
  ...recipe,
});

const RayTrainer = z.strictObject({
  backend: z.literal('ray').describe('a Ray job submitted to the dashboard'),
  address: HttpUrl.describe('Ray dashboard (Jobs API), e.g. http://127.0.0.1:8265'),
  python: z.string().min(1).default('python').describe('interpreter with trl on the Ray nodes'),
  runtimeEnv: z
    .record(z.string(), z.unknown())
    .superRefine((env, ctx) => {
      refuseCredentialKeys(env, CREDENTIAL_FIELD, ctx, 'a credential field');
      const vars = env.env_vars;
      if (vars && typeof vars === 'object')
        for (const name of Object.keys(vars))
          if (CREDENTIAL_VARIABLE.test(name))
            ctx.addIssue({
              code: 'custom',
              path: ['env_vars', name],
              message:
                'a secret would land in the run history: set it on the Ray nodes (or their image), not in the config',
            });
    })
    .default({})
    .describe('Ray runtime_env of the job (no secrets: it is workflow input)'),
  numGpus: z.number().min(0).default(0).describe('entrypoint_num_gpus'),
  numCpus: z.number().min(0).default(1).describe('entrypoint_num_cpus'),
  outageBudgetHours: backendOutageBudget,
  ...recipe,
});

const TolerationSchema = z.strictObject({
  key: z.string().optional().describe('the taint key'),
  operator: z.enum(['Equal', 'Exists']).optional().describe('Equal compares value; Exists any value'),
  value: z.string().optional().describe('the taint value'),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional().describe('the taint effect'),
});

const KubernetesTrainer = z.strictObject({
  backend: z.literal('kubernetes').describe('a Kubernetes batch/v1 Job'),
  apiServer: HttpUrl.refine(
    mayCarryKey,
    'the bearer token goes only over https, or to this machine',
  ).describe('Kubernetes API server, e.g. https://10.0.0.1:6443'),
  tokenEnv: secretName('kubeToken', 'KUBE_TOKEN')
    .optional()
    .describe(
      'variable holding the bearer token, named *KUBE_TOKEN or listed in EVOLVE_SECRET_ENV (default: the pod service account token)',
    ),
  namespace: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a DNS-1123 label')
    .default('default')
    .describe('namespace of the training Jobs'),
  image: z.string().min(1).describe('container image with trl installed'),
  python: z.string().min(1).default('python').describe('interpreter with trl in the image'),
  gpus: z.int().min(0).default(1).describe('nvidia.com/gpu limit'),
  cpu: z.string().optional().describe('cpu request, e.g. "8"'),
  memory: z.string().optional().describe('memory request, e.g. "64Gi"'),
  nodeSelector: z.record(z.string(), z.string()).default({}).describe("the pod's nodeSelector"),
  tolerations: z.array(TolerationSchema).default([]).describe("the pod's tolerations"),
  volume: z
    .strictObject({
      claimName: z.string().min(1).describe('the PersistentVolumeClaim'),
      mountPath: z.string().startsWith('/').describe('where it is mounted: the path of artifactRoot'),
    })
    .optional()
    .describe('the PVC holding artifactRoot, mounted at the same path'),
  serviceAccountName: z.string().optional().describe('service account of the pod'),
  outageBudgetHours: backendOutageBudget,
  ...recipe,
});

export const TrainerSchema = z.discriminatedUnion('backend', [LocalTrainer, RayTrainer, KubernetesTrainer]);

const SuiteName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,39}$/,
    'lower-case letters, digits, "_" and "-" (max 40): it names a directory',
  )
  .describe('names the suite and its directory iter-<t>/suite-<name>/');
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
      .describe('AlpacaEval 2: win rate against the reference outputs, by a pairwise LLM judge'),
    prompts: BenchmarkPath.describe('AlpacaEval JSON array: each instruction with the reference output'),
    limit: z.int().min(1).optional().describe('score only the first `limit` prompts'),
    judge: SuiteJudgeSchema,
    difficulty: BenchmarkPath.optional().describe(
      'instruction_difficulty.csv: adds the length-controlled win rate',
    ),
    seed: z.int().min(0).default(0).describe('the per-row draw of which output the judge sees first'),
  }),
  z.strictObject({
    name: SuiteName,
    kind: z
      .literal('arena-hard')
      .describe('Arena-Hard v0.1: Bradley-Terry score against a baseline model, by a pairwise LLM judge'),
    prompts: BenchmarkPath.describe('Arena-Hard question.jsonl'),
    limit: z.int().min(1).optional().describe('score only the first `limit` prompts'),
    baseline: BenchmarkPath.describe('the baseline model_answer/<model>.jsonl, e.g. gpt-4-0314.jsonl'),
    judge: SuiteJudgeSchema,
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

export const RunIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lower-case letters, digits, ".", "_" and "-" (max 63)');

export const RunConfigSchema = z
  .strictObject({
    runId: RunIdSchema.describe('name of the run and its workflow id'),
    iterations: z.int().min(1).max(1000).describe('T: the number of iterations'),
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
  .superRefine(({ sampling, pairing, policy, trainer, evaluation }, ctx) => {
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
export type Endpoint = z.infer<typeof EndpointSchema>;
export type PromptSource = z.infer<typeof PromptSourceSchema>;
export type Sampling = z.infer<typeof SamplingSchema>;
export type Refinement = z.infer<typeof RefinementSchema>;
export type Judge = z.infer<typeof JudgeSchema>;
export type LlmJudge = z.infer<typeof LlmJudgeSchema>;
export type RewardModel = z.infer<typeof RewardModelSchema>;
export type Pairing = z.infer<typeof PairingSchema>;
export type Trainer = z.infer<typeof TrainerSchema>;
export type Launcher = z.infer<typeof LauncherSchema>;
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

/**
 * Keys whose values run code or receive data and keys (executables, commands, endpoints, key
 * references), wherever they sit (suites' judges included). An update of a running run may not touch
 * them: whoever may send an update should not gain the worker's powers through it.
 */
const GUARDED_KEYS = new Set([
  'baseUrl',
  'baseUrls',
  'apiKeyEnv',
  'tokenEnv',
  'address',
  'apiServer',
  'python',
  'image',
  'command',
  'runtimeEnv',
  'backend',
  'serviceAccountName',
]);

/** `key.path -> JSON value` of every guarded key in a config. */
function guardedValues(value: unknown, prefix: string[] = [], out = new Map<string, string>()) {
  if (Array.isArray(value)) value.forEach((v, i) => guardedValues(v, [...prefix, String(i)], out));
  else if (isObject(value))
    for (const [k, v] of Object.entries(value)) {
      if (GUARDED_KEYS.has(k)) out.set(keyPath([...prefix, k]), JSON.stringify(v));
      else guardedValues(v, [...prefix, k], out);
    }
  return out;
}

/** Guarded keys whose value an update adds, removes or changes. */
function guardedChanges(before: RunConfig, after: RunConfig): string[] {
  const [a, b] = [guardedValues(before), guardedValues(after)];
  return [...new Set([...a.keys(), ...b.keys()])].filter((path) => a.get(path) !== b.get(path));
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
    ...guardedChanges(current, config).map(
      (path) =>
        `  ${path}: executables, commands, endpoints and key references of a running run may not change; start a new run to change it`,
    ),
    ...(config.iterations < started
      ? [`  iterations: must be at least ${started} (iterations already started)`]
      : []),
  ];
  if (problems.length > 0) throw new ConfigError(`${source} is invalid:\n${problems.join('\n')}`);
  return { config, changed };
}
