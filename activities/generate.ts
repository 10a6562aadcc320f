import type { Sampling } from '../core/config.js';
import {
  GenerationFlag,
  GenerationRecordSchema,
  type GenerationRecord,
  type Manifest,
  type Message,
  type PromptRecord,
} from '../core/records.js';
import type { ModelRef, RefineChainInput, SampleShardInput, ShardRef } from '../core/steps.js';
import { directContext, refinementContext, seedFor, templateHash } from '../core/templates.js';
import { Journal } from '../storage/journal.js';
import { journalledStep, shardOutput } from './journalled-step.js';
import { readManifestSlice, streamManifestRows } from '../storage/manifests.js';
import { withHeartbeat } from './heartbeat.js';
import { indexHooks, reusableOutput, stepKey, without } from '../storage/reuse.js';
import { forEachLimit, semaphore, type Admission } from '../core/concurrency.js';
import { chatMany, type ChatFn, type ChatReply } from './inference.js';

export interface GenerationDeps {
  chatFor: (model: ModelRef) => ChatFn;
}

const generationKey = (g: Pick<GenerationRecord, 'promptId' | 'chain' | 'step'>) =>
  `${g.promptId}/${g.chain}/${g.step}`;

export async function shardPrompts(shard: ShardRef): Promise<PromptRecord[]> {
  return readManifestSlice(shard.prompts, 'prompt', shard.start, shard.end);
}

function flagsFor(
  text: string,
  finishReason: string | null,
  parentText: string | null,
): GenerationRecord['flags'] {
  const flags: GenerationRecord['flags'] = [];
  if (text.trim() === '') flags.push('empty');
  if (finishReason === 'length') flags.push('truncated');
  if (parentText !== null && text.trim() === parentText.trim()) flags.push('unchanged');
  if (parentText !== null && REFUSAL.test(text.slice(0, 200))) flags.push('refused');
  return flags;
}

/** A refinement that declines to revise rather than answering. */
const REFUSAL = /\b(I (cannot|can't|can not|am unable to|won't)|I'm (sorry|unable)|as an AI)\b/i;

/** What a generation step's journal keeps of a row: its place in the output, and its flags to count. */
type GenerationSummary = Pick<GenerationRecord, 'promptId' | 'chain' | 'step' | 'flags'>;

function countFlags(rows: GenerationSummary[]): Record<string, number> {
  const stats: Record<string, number> = Object.fromEntries(GenerationFlag.options.map((f) => [f, 0]));
  for (const row of rows) for (const flag of row.flags) stats[flag] = (stats[flag] ?? 0) + 1;
  return stats;
}

/** What a generation step's output depends on besides its input files (the server's address is not). */
function generationSlice({ shard, policy, params }: SampleShardInput) {
  // The train phase passes all of `sampling`: the chain depth is the refine step's business.
  const sampling = without(params as Partial<Sampling>, 'chainDepth');
  // Server-specific sampling fields (top_k, stop ids) change the output; the address does not.
  const { extraBody } = policy.endpoint;
  return { shard: [shard.start, shard.end], model: policy.model, sampling, extraBody };
}

/**
 * One generation step of a shard: reused when its key is indexed, otherwise journalled so that a
 * retried attempt resumes where it stopped.
 */
function journalled(
  input: SampleShardInput,
  step: 'sample' | 'refine',
  key: string,
  chat: ChatFn,
  /** The rows the step writes when done, for progress (`evolve show`, `--wait`). */
  total: number,
  work: (
    journal: Journal<GenerationRecord, GenerationSummary>,
    generate: Generate,
    generateChains: GenerateChains,
  ) => Promise<void>,
): Promise<Manifest> {
  const spec = {
    ...shardOutput(input, step),
    key,
    schema: 'generation' as const,
    rowSchema: GenerationRecordSchema,
    keyOf: generationKey,
    summarise: ({ promptId, chain, step, flags }: GenerationRecord): GenerationSummary => ({
      promptId,
      chain,
      step,
      flags,
    }),
    order: (a: GenerationSummary, b: GenerationSummary) =>
      a.promptId.localeCompare(b.promptId) || a.chain - b.chain || a.step - b.step,
    stats: countFlags,
  };
  return reusableOutput(input.scope, key, () =>
    journalledStep({ ...spec, ...indexHooks(input.scope, key) }, async (journal, lease) => {
      const resumedFrom = journal.size;
      const generateChains: GenerateChains = async (g, chains) => {
        const seeds = chains.map((chain) => seedFor(input.params.seed, g.promptId, chain, g.step));
        const request = {
          model: input.policy.model,
          messages: g.messages,
          temperature: input.params.temperature,
          topP: input.params.topP,
          maxTokens: input.params.maxTokens,
          seed: seeds[0]!,
          signal: lease.abortSignal,
          stop: lease.stopSignal,
        };
        lease.check();
        const replies = await chatMany(chat, request, seeds);
        return Promise.all(
          replies.map((reply, i) => keep({ ...g, chain: chains[i]! }, reply, reply.seed ?? seeds[i]!)),
        );
      };
      const generate: Generate = async (g) => (await generateChains(g, [g.chain]))[0]!;
      const keep = async (g: GenerationSpec, reply: ChatReply, seed: number) => {
        const record: GenerationRecord = {
          id: `${input.scope.runId}/${input.scope.iteration}/${generationKey(g)}`,
          promptId: g.promptId,
          chain: g.chain,
          step: g.step,
          parentId: g.parent?.id ?? null,
          text: reply.text,
          finishReason: reply.finishReason,
          usage: reply.usage,
          model: input.policy.model,
          temperature: input.params.temperature,
          topP: input.params.topP,
          maxTokens: input.params.maxTokens,
          seed,
          templateHash: g.templateHash,
          latencyMs: Math.round(reply.latencyMs),
          flags: flagsFor(reply.text, reply.finishReason, g.parent?.text ?? null),
        };
        await journal.append(record);
        return record;
      };
      await withHeartbeat(
        () => ({ done: journal.size, total, resumedFrom }),
        () => work(journal, generate, generateChains),
      );
    }),
  );
}

interface GenerationSpec {
  promptId: string;
  chain: number;
  step: number;
  messages: Message[];
  parent: GenerationRecord | null;
  templateHash: string | null;
}
type Generate = (spec: GenerationSpec) => Promise<GenerationRecord>;
/** The same request for several chains: one `n` request where the endpoint supports it. */
type GenerateChains = (spec: Omit<GenerationSpec, 'chain'>, chains: number[]) => Promise<GenerationRecord[]>;

export function createGenerationActivities({ chatFor }: GenerationDeps) {
  // Chains under way per endpoint over every shard of this worker, at most its maxConcurrency: each
  // holds its answers in memory, so shards in flight must not each start that many (see forEachLimit).
  const admissions = new Map<string, Admission>();
  const admissionFor = ({ endpoint }: ModelRef): Admission => {
    const key = JSON.stringify(endpoint);
    let admission = admissions.get(key);
    if (!admission) admissions.set(key, (admission = semaphore(endpoint.maxConcurrency)));
    return admission;
  };
  return {
    /** Step 1 of every chain: N independent answers per prompt. */
    async sampleShard(input: SampleShardInput): Promise<Manifest> {
      const key = stepKey('sample', [input.shard.prompts.sha256], generationSlice(input));
      const rows = (input.shard.end - input.shard.start) * input.params.samples;
      return journalled(
        input,
        'sample',
        key,
        chatFor(input.policy),
        rows,
        async (journal, _, generateChains) => {
          const prompts = await shardPrompts(input.shard);
          const admission = admissionFor(input.policy);
          await forEachLimit(
            prompts,
            input.policy.endpoint.maxConcurrency,
            async (p) => {
              const chains = Array.from({ length: input.params.samples }, (_, chain) => chain).filter(
                (chain) => !journal.has(generationKey({ promptId: p.id, chain, step: 1 })),
              );
              if (chains.length === 0) return;
              await generateChains(
                { promptId: p.id, step: 1, messages: directContext(p), parent: null, templateHash: null },
                chains,
              );
            },
            admission,
          );
        },
      );
    },

    /** Steps 2..K: each chain revises its own previous response with the refinement template. */
    async refineChain(input: RefineChainInput): Promise<Manifest> {
      const key = stepKey('refine', [input.shard.prompts.sha256, input.answers.sha256], {
        ...generationSlice(input),
        chainDepth: input.chainDepth,
        refinement: input.refinement,
      });
      const hash = templateHash(input.refinement);
      const rows = input.answers.rows * (input.chainDepth - 1);
      return journalled(input, 'refine', key, chatFor(input.policy), rows, async (journal, generate) => {
        const prompts = new Map((await shardPrompts(input.shard)).map((p) => [p.id, p]));
        // Read as the chains start: the first requests go out before the whole input is parsed.
        const answers = streamManifestRows(input.answers, 'generation');
        const admission = admissionFor(input.policy);
        await forEachLimit(
          answers,
          input.policy.endpoint.maxConcurrency,
          async (answer) => {
            const prompt = prompts.get(answer.promptId);
            if (!prompt)
              throw new Error(`${input.answers.uri}: answer for unknown prompt ${answer.promptId}`);
            let parent = answer;
            for (let step = 2; step <= input.chainDepth; step++) {
              if (step > 2) await admission.yieldToStarting();
              const key = generationKey({ promptId: answer.promptId, chain: answer.chain, step });
              parent =
                (await journal.read(key)) ??
                (await generate({
                  promptId: answer.promptId,
                  chain: answer.chain,
                  step,
                  messages: refinementContext(prompt.prompt, parent.text, input.refinement),
                  parent,
                  templateHash: hash,
                }));
            }
          },
          admission,
        );
      });
    },
  };
}
