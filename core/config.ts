import { z } from 'zod';

/** An OpenAI-compatible endpoint. Keys are never in config: `apiKeyEnv` names the variable that holds one. */
export const EndpointSchema = z.strictObject({
  baseUrl: z
    .url({ protocol: /^https?$/ })
    .describe('OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1'),
  apiKeyEnv: z
    .string()
    .regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name such as OPENAI_API_KEY')
    .optional(),
  maxConcurrency: z.int().min(1).max(1024).default(4),
  requestTimeoutMs: z.int().min(1000).default(300_000),
});

const PromptFileSource = z.strictObject({
  kind: z.literal('file'),
  path: z.string().min(1).describe('JSONL of {"id", "prompt", "answer"?}'),
  limit: z.int().min(1).optional(),
});
const ArithmeticSource = z.strictObject({
  kind: z.literal('arithmetic'),
  count: z.int().min(1).max(1_000_000),
  seed: z.int().default(1),
  maxOperand: z.int().min(2).default(20),
});
export const PromptSourceSchema = z.discriminatedUnion('kind', [PromptFileSource, ArithmeticSource]);

export const SamplingSchema = z.strictObject({
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

export const JudgeSchema = z.strictObject({
  verifier: z.enum(['numeric']).default('numeric').describe('used for prompts that carry a gold answer'),
  llm: z.strictObject({
    endpoint: EndpointSchema,
    model: z.string().min(1),
    rubric: z.string().min(1),
    maxScore: z.int().min(2).max(100).default(10),
    attempts: z.int().min(1).max(10).default(3),
    maxTokens: z.int().min(1).default(8),
  }),
});

export const PairingSchema = z.strictObject({
  rule: z
    .enum(['max-min', 'last-vs-first'])
    .default('max-min')
    .describe(
      'max-min: best vs worst by the judge; last-vs-first: last refinement vs first answer, no judge',
    ),
  margin: z.number().min(0).describe('drop prompts whose best-worst score gap is below this'),
  refinementPairs: z.boolean().default(true).describe('false = plain iterative DPO (direct pairs only)'),
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
    .enum(['previous'])
    .default('previous')
    .describe('the DPO reference policy: the iterate being trained'),
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

export const EvaluationSchema = z.strictObject({
  prompts: PromptSourceSchema,
  refineRounds: z.int().min(0).max(8).default(1),
  temperature: z.number().min(0).max(2).default(0),
  maxTokens: z.int().min(1).optional(),
});

export const RunConfigSchema = z.strictObject({
  runId: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lower-case letters, digits, ".", "_" and "-" (max 63)'),
  iterations: z.int().min(1).max(1000),
  artifactRoot: z.string().min(1),
  policy: z.strictObject({
    endpoint: EndpointSchema,
    baseModel: z.string().min(1).describe('model name or checkpoint path the server serves'),
  }),
  prompts: z.array(PromptSourceSchema).min(1).describe('training prompts: the sources are concatenated'),
  shardSize: z.int().min(1).max(100_000).default(64),
  maxShardsInFlight: z.int().min(1).max(256).default(4),
  sampling: SamplingSchema,
  refinement: RefinementSchema,
  judge: JudgeSchema,
  pairing: PairingSchema,
  trainer: TrainerSchema,
  evaluation: EvaluationSchema,
});

export type RunConfig = z.infer<typeof RunConfigSchema>;
export type RunConfigInput = z.input<typeof RunConfigSchema>;
export type Endpoint = z.infer<typeof EndpointSchema>;
export type PromptSource = z.infer<typeof PromptSourceSchema>;
export type Sampling = z.infer<typeof SamplingSchema>;
export type Refinement = z.infer<typeof RefinementSchema>;
export type Judge = z.infer<typeof JudgeSchema>;
export type Pairing = z.infer<typeof PairingSchema>;
export type Trainer = z.infer<typeof TrainerSchema>;
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
