import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
// Known debt: the demonstrations are sampled by the experiment driver before any run exists, with the
// activities' client; as an activity of the stage-0 run they would be durable too.
// eslint-disable-next-line no-restricted-imports
import { chatMany, openAIChat } from '../activities/inference.js';
import { solvedArithmetic } from '../core/arithmetic.js';
import type { Endpoint } from '../core/config.js';
import { mulberry32 } from '../core/random.js';
import { directContext, seedFor } from '../core/templates.js';
import { verifyNumeric } from '../core/verify.js';

/**
 * Stage 0's refinement demonstrations for the micro arms (experiment.yaml `stage0`), from a split of
 * their own: generated problems whose seed no train, dev or test draw uses.
 */
export const StageZeroSpecSchema = z.strictObject({
  count: z.int().min(1).describe('problems of the stage-0 split'),
  seed: z.int().describe('their generator seed: not 1..T (training), nor the dev or test seed'),
  maxOperand: z.int().min(2),
  samples: z.int().min(1).describe("the base model's sampled answers per problem; the wrong ones are y_l"),
  maxWrong: z
    .int()
    .min(0)
    .optional()
    .describe('per problem, at most this many distinct sampled wrong answers are kept (all when omitted)'),
  temperature: z.number().min(0),
  maxTokens: z.int().min(1),
  nearMisses: z.int().min(0).describe('per problem, y_l that is y_w with its final number off by a little'),
  keepRight: z
    .int()
    .min(0)
    .default(0)
    .describe(
      'per problem, demonstrations whose previous answer is already y_w (c(x, y_w, z) -> y_w): the instruction also asks to repeat a right answer',
    ),
});
export type StageZeroSpec = z.infer<typeof StageZeroSpecSchema>;

export interface Demonstrations {
  /** (x, y_w, y_l) triples written; buildSftSet makes two SFT rows of each. */
  triples: number;
  /** Of them, sampled wrong answers of the base model (the rest are near-misses). */
  sampledWrong: number;
  /** Problems skipped because their text is also a dev or test problem. */
  skipped: number;
  /** Of the triples, keep demonstrations (y_l = y_w: a right answer repeated). */
  keeps: number;
}

/**
 * Writes trainer.sft.dataset for stage 0 (TRL conversational rows {prompt, chosen, rejected}): for each
 * problem, y_w is the short worked answer `a + b = c` and y_l each distinct wrong answer the base model
 * sampled, then `nearMisses` copies of y_w with the final number moved by 1..3 or by 10, then `keepRight`
 * rows whose previous answer is y_w itself (buildSftSet makes c(x, y_w, z) -> y_w of them). Problems whose
 * text is in `exclude` (the dev and test problems) are skipped, so no evaluated problem is trained on.
 */
export async function writeDemonstrations(
  spec: StageZeroSpec,
  ask: string | undefined,
  endpoint: Endpoint,
  model: string,
  exclude: ReadonlySet<string>,
  out: string,
): Promise<Demonstrations> {
  const chat = openAIChat(endpoint);
  const rand = mulberry32(spec.seed);
  const problems = [...solvedArithmetic(spec.count, spec.seed, spec.maxOperand, 'stage0', ask)];
  const kept = problems.filter(({ problem }) => !exclude.has(problem.prompt));
  const replies = await Promise.all(
    kept.map(({ problem }) =>
      chatMany(
        chat,
        {
          model,
          messages: directContext(problem),
          temperature: spec.temperature,
          maxTokens: spec.maxTokens,
          seed: 0,
        },
        Array.from({ length: spec.samples }, (_, i) => seedFor(spec.seed, problem.id, i, 1)),
      ),
    ),
  );
  const rows: string[] = [];
  let sampledWrong = 0;
  kept.forEach(({ problem, solution }, i) => {
    const wrong = new Set(
      [
        ...new Set(
          replies[i]!.map((r) => r.text.trim()).filter(
            (t) => t && !verifyNumeric(t, problem.answer!).correct,
          ),
        ),
      ].slice(0, spec.maxWrong),
    );
    sampledWrong += wrong.size;
    const gold = Number(problem.answer);
    for (let n = 0; n < spec.nearMisses; n++) {
      const shift = rand() < 0.7 ? 1 + Math.floor(rand() * 3) : 10;
      const off = rand() < 0.5 && gold - shift >= 0 ? gold - shift : gold + shift;
      wrong.add(solution.replace(/= \d+$/, `= ${off}`));
    }
    for (const rejected of [...wrong, ...Array<string>(spec.keepRight).fill(solution)])
      rows.push(
        JSON.stringify({
          prompt: directContext(problem),
          chosen: [{ role: 'assistant', content: solution }],
          rejected: [{ role: 'assistant', content: rejected }],
        }),
      );
  });
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, rows.join('\n') + '\n');
  return {
    triples: rows.length,
    sampledWrong,
    skipped: problems.length - kept.length,
    keeps: kept.length * spec.keepRight,
  };
}
