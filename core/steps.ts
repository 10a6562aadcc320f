/** The contracts between workflows and activities: small, serialisable, manifests instead of data. */
import type {
  Endpoint,
  Judge,
  Pairing,
  PromptSource,
  Refinement,
  RunConfig,
  Serve,
  Suite,
  Trainer,
} from './config.js';
import type { TrainingStage } from './checkpoint.js';
import type { Manifest } from './records.js';
import type { Strategy } from './strategies.js';
import type { SuiteSummary } from './suites.js';

export interface StepScope {
  runId: string;
  iteration: number;
  /** Directory (under the artifact root) this step writes into. */
  dir: string;
  /** Reuse indexes a step looks its output key up in: this run's first (recorded into), then reuseFrom's. */
  indexes: string[];
}

export interface ModelRef {
  endpoint: Endpoint;
  model: string;
}

export interface ServeInput extends ModelRef {
  /** How the server takes the checkpoint; absent in workflows started before serve kinds: by path. */
  serve?: Serve;
  /** The model the server answered with until now: vLLM unloads that adapter first. */
  replaces?: string;
  /**
   * The run's sampling settings, which the probe uses: a server that batches with the settings of a
   * model's first request (`transformers serve --continuous-batching`) then samples as the run will.
   * Absent in workflows started before it: greedy.
   */
  probe?: { temperature: number; topP: number };
}

export interface Served extends ModelRef {
  /** The probe completion's text (of the first replica). */
  probe: string;
}

export interface ShardRef {
  index: number;
  count: number;
  prompts: Manifest;
  start: number;
  end: number;
}

export interface GenerationParams {
  samples: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
}

export interface SampleShardInput {
  scope: StepScope;
  shard: ShardRef;
  policy: ModelRef;
  params: GenerationParams;
}

export interface RefineChainInput extends SampleShardInput {
  answers: Manifest;
  /** Total responses per chain including the initial answer. */
  chainDepth: number;
  refinement: Refinement;
}

export interface JudgeShardInput {
  scope: StepScope;
  shard: ShardRef;
  generations: Manifest[];
  judge: Judge;
}

/** What one shard of a phase produced: its responses (answers, then refinements) and their scores. */
export interface ShardOutputs {
  shard: ShardRef;
  generations: Manifest[];
  scores: Manifest;
}

/** A shard's outputs named by its prompt rows only: the pair step is given the prompts manifest once. */
export type PairShard = Pick<ShardRef, 'start' | 'end'> & Omit<ShardOutputs, 'shard'>;

export interface BuildPairsInput {
  scope: StepScope;
  prompts: Manifest;
  /** Pairs are built a shard at a time, so the step's memory does not grow with the prompt count. */
  shards: PairShard[];
  pairing: Pairing;
  refinement: Refinement;
}

export interface LoadPromptsInput {
  scope: StepScope;
  sources: PromptSource[];
  /** Training only: the evaluation and suite prompts, whose texts are dropped from `sources` (decontamination). */
  exclude?: PromptSource[];
}

export interface TrainingJob {
  jobKey: string;
  jobDir: string;
  outputDir: string;
  backend: Trainer['backend'];
  /** A finished job found in a reuse index (possibly another run's). */
  reused?: boolean;
  /** Where the backend runs it; absent in jobs submitted before the Ray and Kubernetes backends (local). */
  trainer?: Trainer;
}

export interface SubmitTrainingInput {
  scope: StepScope;
  /** dpo (absent in histories from before the SFT stage) trains on pairs.jsonl, sft on sft.jsonl beside it. */
  stage?: TrainingStage;
  pairs: Manifest;
  policyModel: string;
  referenceModel: string;
  trainer: Trainer;
  jobKey: string;
}

export interface Checkpoint {
  path: string;
  /** The checkpoint's registry entry (checkpoint.json next to it). */
  manifest?: string;
  parent: string;
  /** LoRA only: the adapter vLLM serves over the base model for this checkpoint (vllm-lora). */
  servedAdapter?: string;
  metrics: Record<string, number>;
  wallMs: number;
  jobKey: string;
  reused?: boolean;
}

export interface EvaluateInput {
  scope: StepScope;
  prompts: Manifest;
  generations: Manifest[];
  scores: Manifest[];
  rounds: number;
  strategy: Strategy;
}

export interface EvalSummary {
  uri: string;
  prompts: number;
  /** accuracy[r] = share of prompts whose kept answer after r refinements is correct (r = 0: first answers). */
  accuracy: number[];
  wallMs: number;
  /** The strategy whose kept answer was scored; absent in summaries written before strategies. */
  strategy?: Strategy;
}

/** One shard of a pairwise suite: each kept answer (direct and after each round) against the reference. */
export interface JudgeSuiteShardInput {
  scope: StepScope;
  suite: Exclude<Suite, { kind: 'accuracy' }>;
  shard: ShardRef;
  generations: Manifest[];
  scores: Manifest[];
  rounds: number;
  strategy: Strategy;
}

export interface SummarizeSuiteInput {
  scope: StepScope;
  suite: Suite;
  prompts: Manifest;
  generations: Manifest[];
  scores: Manifest[];
  /** The pairwise verdicts of every shard; [] for an accuracy suite. */
  verdicts: Manifest[];
  rounds: number;
  strategy: Strategy;
}

export interface ValidatedConfig {
  config: RunConfig;
  configHash: string;
}

export interface StepReport {
  iteration: number;
  step: string;
  rows: number;
  wallMs: number;
  uri: string;
  /** Every part of the step (all its shards) was found finished, none recomputed. */
  reused: boolean;
  /** Rows the step left out, by reason (its manifest's non-zero `dropped*` stats), e.g. droppedContaminated. */
  dropped?: Record<string, number>;
}

/** The run's decision after an iteration that scored below the best so far (evaluation.keepBest). */
export interface KeptBest {
  /** The checkpoint the next iteration samples from and trains, instead of this iteration's. */
  checkpoint: string;
  /** The iteration that trained it, and its score. */
  iteration: number;
  score: number;
  /** This iteration's score, below `score`. */
  regressedTo: number;
}

export interface IterationResult {
  iteration: number;
  checkpoint: string;
  evaluation: EvalSummary;
  /** The benchmark suites of evaluation.suites; absent when none is configured. */
  suites?: SuiteSummary[];
  steps: StepReport[];
  /** Set by the run when this iteration regressed and keepBest handed an earlier checkpoint on. */
  keptBest?: KeptBest;
}

export interface RunResult {
  runId: string;
  configHash: string;
  /** Stage 0 SFT on trainer.sft.dataset, when configured: uri is pi_1, the checkpoint iteration 1 trains. */
  stage0?: StepReport;
  iterations: IterationResult[];
  finalModel: string;
  /** Set when a stop ended the run before `iterations`: the last iteration that ran. */
  stoppedAfter?: number;
  /**
   * Config updates the run accepted but never applied (a stop, or an update during the last iteration):
   * the key paths and the config they make, for a new run (`evolve show <run> --unapplied-config`).
   */
  unapplied?: { changes: string[]; config: RunConfig };
}
