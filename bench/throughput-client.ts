/**
 * One side of one round of (a), in a process of its own so that neither side inherits the other's
 * state (the activity context's promise hooks, JIT profile, heap): `bare`, a plain `openai` loop with
 * no activity context, or `activities`, sampleShard + refineChain in a mock activity context. Each sends
 * prompts x depth requests at `concurrency` after an untimed warm-up of a tenth of that, then prints
 * {perS, cpuUsPer} (requests per wall second, and this process's CPU µs per request).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import OpenAI from 'openai';
import { writeJsonlWithManifest } from '../storage/jsonl-writer.js';
import { createGenerationActivities } from '../activities/generate.js';
import { openAIChat } from '../activities/inference.js';
import { arithmeticProblems } from '../core/arithmetic.js';
import { mapLimit } from '../core/concurrency.js';
import type { Endpoint } from '../core/config.js';
import type { Manifest } from '../core/records.js';
import { shardsOf } from '../core/shards.js';

export interface ThroughputArgs {
  mode: 'bare' | 'activities';
  baseUrl: string;
  prompts: number;
  depth: number;
  concurrency: number;
}
export interface Rate {
  perS: number;
  cpuUsPer: number;
}

const args = JSON.parse(process.argv[2]!) as ThroughputArgs;
const maxTokens = 32;

async function bare(prompts: number): Promise<void> {
  const client = new OpenAI({ baseURL: args.baseUrl, apiKey: 'x', maxRetries: 0 });
  await mapLimit(
    Array.from({ length: prompts * args.depth }, (_, i) => i),
    args.concurrency,
    (seed) =>
      client.chat.completions.create({
        model: 'm',
        messages: [{ role: 'user', content: 'What is 12 more than 30?' }],
        temperature: 1,
        max_tokens: maxTokens,
        seed,
      }),
  );
}

/** As the workflow runs them: shards of 64 prompts, 4 in flight, each sampled then refined. */
async function activities(prompts: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'evolve-bench-'));
  try {
    const manifest = await writeJsonlWithManifest(
      join(dir, 'prompts.jsonl'),
      'prompt',
      arithmeticProblems(prompts, 1, 99),
      { step: 'prompts', runId: 'bench', iteration: 1 },
    );
    const ep: Endpoint = {
      baseUrl: args.baseUrl,
      maxConcurrency: args.concurrency,
      requestTimeoutMs: 60_000,
    };
    const chat = openAIChat(ep);
    const generation = createGenerationActivities({ chatFor: () => chat });
    const params = { samples: 1, temperature: 1, topP: 1, maxTokens, seed: 1 };
    const scope = (step: string) => ({
      runId: 'bench',
      iteration: 1,
      dir: join(dir, step),
      indexes: [join(dir, 'cas')],
    });
    await mapLimit(shardsOf(manifest, 64), 4, async (shard) => {
      const env = new MockActivityEnvironment();
      const base = { shard, policy: { endpoint: ep, model: 'm' }, params };
      const answers: Manifest = await env.run(generation.sampleShard, { ...base, scope: scope('sample') });
      await env.run(generation.refineChain, {
        ...base,
        scope: scope('refine'),
        answers,
        chainDepth: args.depth,
        refinement: { template: 'multi-turn' as const, instruction: 'Improve your answer.' },
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const run = args.mode === 'bare' ? bare : activities;
await run(Math.max(1, Math.round(args.prompts / 10)));
const wall = performance.now();
const cpu = process.cpuUsage();
await run(args.prompts);
const used = process.cpuUsage(cpu);
const requests = args.prompts * args.depth;
const rate: Rate = {
  perS: requests / ((performance.now() - wall) / 1000),
  cpuUsPer: (used.user + used.system) / requests,
};
process.stdout.write(JSON.stringify(rate) + '\n');
