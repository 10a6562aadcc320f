import { z } from 'zod';
import { CREDENTIAL_FIELD, CREDENTIAL_VARIABLE, mayCarryKey } from '../secrets.js';
import { HttpUrl, MAX_OUTAGE_BUDGET_HOURS, refuseCredentialKeys, secretName } from './endpoint.js';

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
  cpuThreads: z
    .int()
    .min(1)
    .max(1024)
    .optional()
    .describe(
      "device cpu: the trainer's threads (OMP_NUM_THREADS, MKL_NUM_THREADS); a trainer sharing the cores with model servers or another trainer runs many times slower with more threads than free cores",
    ),
  beta: z
    .number()
    .gt(0)
    .max(100)
    .default(0.1)
    .describe('DPO beta: how far the policy may move from the reference'),
  loss: z
    .enum(['dpo', 'srpo'])
    .default('dpo')
    .describe(
      'dpo: L_PT over the pair rows, each scaled by its weight (pairing.weights); srpo: the SRPO baseline loss (Choi et al. 2024) on each triple, which scores both answers under c(x, y_l) and c(x, y_w) itself (needs pairing.refinementPairs, whose rows carry c(x, y_l, z))',
    ),
  nll: z
    .number()
    .min(0)
    .max(100)
    .default(0)
    .describe('RPO-style NLL term: alpha * -log pi(y_w|prompt) / |y_w| added to each row loss (0 = none)'),
  srpoAlpha: z
    .number()
    .min(0)
    .max(1)
    .default(0.5)
    .describe("SRPO's mix: (1 - alpha) * generative term + alpha * self-improvement term (loss srpo)"),
  learningRate: z.number().gt(0).max(1).default(5e-7).describe('DPO learning rate'),
  epochs: z.number().gt(0).max(1000).default(1).describe('DPO epochs over the pairs'),
  batchSize: z.int().min(1).default(2).describe('per-device batch size'),
  gradientAccumulation: z.int().min(1).default(1).describe('gradient accumulation steps'),
  maxLength: z.int().min(16).default(512).describe('most tokens of a training row (--max_length)'),
  reference: z
    .enum(['previous', 'initial'])
    .default('previous')
    .describe(
      "the DPO reference policy: the iterate being trained, or the initial policy pi_1 (stage 0's result when trainer.sft.dataset is set, else policy.baseModel)",
    ),
  sft: z
    .strictObject({
      when: z
        .enum(['never', 'first', 'every'])
        .default('never')
        .describe('self-refinement-aware SFT on sft.jsonl before DPO: in iteration 1, or in every iteration'),
      learningRate: z.number().gt(0).max(1).default(1e-5).describe('SFT learning rate'),
      epochs: z.number().gt(0).max(1000).default(1).describe('SFT epochs'),
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
  .max(MAX_OUTAGE_BUDGET_HOURS)
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
  numGpus: z.number().min(0).max(1024).default(0).describe('entrypoint_num_gpus'),
  numCpus: z.number().min(0).max(4096).default(1).describe('entrypoint_num_cpus'),
  entrypointResources: z
    .record(z.string(), z.number().min(0))
    .superRefine((resources, ctx) => {
      // Ray takes CPUs and GPUs only from their own fields and refuses them here.
      for (const name of ['CPU', 'GPU'])
        if (name in resources)
          ctx.addIssue({
            code: 'custom',
            path: [name],
            message: 'set CPUs and GPUs with numCpus and numGpus',
          });
    })
    .default({})
    .describe(
      'entrypoint_resources: custom resources of the job, e.g. `{"trainer": 1}` to place it on the nodes started with `--resources \'{"trainer": 1}\'`',
    ),
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

export type Trainer = z.infer<typeof TrainerSchema>;
export type Launcher = z.infer<typeof LauncherSchema>;

export type Lora = z.infer<typeof LoraSchema>;
export type KubernetesTrainer = z.infer<typeof KubernetesTrainer>;
export type RayTrainer = z.infer<typeof RayTrainer>;
export type LocalTrainer = z.infer<typeof LocalTrainer>;
