import { z } from 'zod';
import { VERDICTS } from './judge-replies.js';

export const MessageSchema = z.strictObject({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
});
export type Message = z.infer<typeof MessageSchema>;

const answer = (role: string) =>
  z
    .array(MessageSchema)
    .length(1, `one ${role} message`)
    .refine((m) => m.length !== 1 || m[0]!.role === 'assistant', 'an assistant message');

/**
 * A row of trainer.sft.dataset, TRL's conversational preference format with an explicit prompt (extra
 * columns are ignored).
 */
export const PreferenceRowSchema = z.object({
  prompt: z
    .array(MessageSchema)
    .min(1)
    .refine((m) => m.at(-1)?.role === 'user', 'a conversation that ends with a user message'),
  chosen: answer('chosen'),
  rejected: answer('rejected'),
});

export const PromptRecordSchema = z.strictObject({
  id: z.string().min(1),
  prompt: z.string().min(1),
  answer: z.string().optional().describe('gold answer; prompts with one are judged by the verifier'),
});
export type PromptRecord = z.infer<typeof PromptRecordSchema>;

/** Why a generation looks wrong; flagged and counted, never dropped. */
export const GenerationFlag = z.enum(['empty', 'truncated', 'unchanged', 'refused']);

export const GenerationRecordSchema = z.strictObject({
  id: z.string(),
  promptId: z.string(),
  chain: z.int().min(0),
  step: z.int().min(1).describe('1 = the initial answer, k > 1 = the (k-1)-th refinement'),
  parentId: z.string().nullable(),
  text: z.string(),
  finishReason: z.string().nullable(),
  usage: z.strictObject({ promptTokens: z.int(), completionTokens: z.int() }).nullable(),
  model: z.string(),
  temperature: z.number(),
  topP: z.number().optional().describe('absent in rows written before it was recorded'),
  maxTokens: z.int(),
  seed: z.int(),
  templateHash: z.string().nullable(),
  latencyMs: z.number(),
  flags: z.array(GenerationFlag),
});
export type GenerationRecord = z.infer<typeof GenerationRecordSchema>;

export const ScoreRecordSchema = z.strictObject({
  generationId: z.string(),
  promptId: z.string(),
  chain: z.int(),
  step: z.int(),
  judge: z.string().describe('e.g. verifier:math:boxed, llm:pointwise:<model>, rm:vllm-classify:<model>'),
  status: z
    .enum(['ok', 'unparseable', 'error', 'skipped'])
    .describe(
      'unparseable: no readable verdict after every attempt; error: the judge timed out; skipped: no judge',
    ),
  score: z.number().nullable().describe('null when status is not ok: never a silent 0'),
  extracted: z.string().nullable(),
  raw: z.string().nullable().describe('the judge reply, for audit'),
});
export type ScoreRecord = z.infer<typeof ScoreRecordSchema>;

/** One benchmark verdict: the answer kept after `round` refinements against the reference or baseline. */
export const VerdictRecordSchema = z.strictObject({
  promptId: z.string(),
  round: z.int().min(0),
  generationId: z.string().nullable().describe('null: the strategy kept no answer at this round'),
  judge: z.string(),
  status: z.enum(['ok', 'unparseable', 'error', 'missing']),
  modelLength: z.int().min(0).nullable().describe('code points of the kept answer (Python len)'),
  referenceLength: z.int().min(0),
  swapped: z
    .boolean()
    .nullable()
    .describe(
      "alpaca-eval: the judge saw the model output first (alpaca_eval's draw per instruction); null for arena-hard",
    ),
  draw: z.number().nullable().describe('the draw that set `swapped` (switched when at least 0.5)'),
  preference: z
    .number()
    .nullable()
    .describe('alpaca-eval, in [1, 2]: 1 = the reference is better, 2 = the model; already un-swapped'),
  games: z
    .array(z.enum(VERDICTS).nullable())
    .describe('arena-hard: game 1 with the baseline as A, game 2 with the model as A; [] for alpaca-eval'),
  raw: z.string().nullable().describe('the judge replies, for audit'),
});
export type VerdictRecord = z.infer<typeof VerdictRecordSchema>;

export const PairRecordSchema = z.strictObject({
  promptId: z.string(),
  kind: z.enum(['direct', 'refinement']),
  prompt: z.array(MessageSchema),
  chosen: z.array(MessageSchema),
  rejected: z.array(MessageSchema),
  chosenId: z.string(),
  rejectedId: z.string(),
  margin: z.number(),
  templateHash: z
    .string()
    .nullable()
    .optional()
    .describe('the refinement template of a refinement row; absent in rows written before it was recorded'),
  weight: z.number().min(0).default(1).describe('the weight of this term of L_PT (pairing.weights)'),
});
export type PairRecord = z.infer<typeof PairRecordSchema>;

/** Self-refinement-aware SFT (stage 0): TRL's conversational prompt-completion format. */
export const SftRecordSchema = z.strictObject({
  promptId: z.string(),
  kind: z.enum(['direct', 'refinement']),
  prompt: z.array(MessageSchema),
  completion: z.array(MessageSchema),
  sourceId: z.string().describe('the generation that is the completion'),
});
export type SftRecord = z.infer<typeof SftRecordSchema>;

/** Schemas by name: a manifest records which one its rows follow. */
export const RecordSchemas = {
  prompt: PromptRecordSchema,
  generation: GenerationRecordSchema,
  score: ScoreRecordSchema,
  pair: PairRecordSchema,
  sft: SftRecordSchema,
  verdict: VerdictRecordSchema,
} as const;
export type RecordSchemaName = keyof typeof RecordSchemas;

export const ManifestSchema = z.strictObject({
  uri: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  rows: z.int().min(0),
  bytes: z.int().min(0),
  schema: z.string(),
  producedBy: z.strictObject({
    step: z.string(),
    runId: z.string(),
    iteration: z.int(),
    shard: z.int().optional(),
  }),
  stats: z.record(z.string(), z.number()).default({}),
  wallMs: z.number().default(0),
  reused: z
    .boolean()
    .optional()
    .describe('set on a step result found in a reuse index; never written to a manifest file'),
});
export type Manifest = z.infer<typeof ManifestSchema>;
