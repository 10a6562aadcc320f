/**
 * The official judges' config files as evolve reads them (alpaca-eval's annotator configs.yaml,
 * Arena-Hard's judge_config.yaml): the schemas that the loaders (storage/benchmarks/official-configs.ts),
 * the suites and `evolve doctor` share.
 */
import { z } from 'zod';

/** The annotator's configs.yaml entry, as far as evolve reproduces it; anything else is refused. */
export const AnnotatorConfigSchema = z.strictObject({
  prompt_template: z.string().min(1),
  fn_completions: z.literal('openai_completions'),
  completions_kwargs: z.strictObject({
    model_name: z.string().min(1),
    max_tokens: z.int().min(1),
    temperature: z.number().optional(),
    top_p: z.number().nullable().optional(),
    logprobs: z.boolean().optional(),
    top_logprobs: z.int().min(0).optional(),
  }),
  fn_completion_parser: z.literal('logprob_parser'),
  completion_parser_kwargs: z.strictObject({
    numerator_token: z.string(),
    denominator_tokens: z.array(z.string()).min(1),
    is_binarize: z.boolean().default(true),
  }),
  completion_key: z.string().optional(),
  batch_size: z.literal(1).default(1),
  is_randomize_output_order: z.boolean().default(true),
  pretty_name: z.string().optional(),
  link: z.string().optional(),
});

/** A loaded annotator: its name, template text and parsed configs.yaml entry. */
export interface Annotator {
  name: string;
  template: string;
  config: z.infer<typeof AnnotatorConfigSchema>;
}

/** judge_config.yaml, as far as evolve reproduces it (pairwise against a baseline, no reference answers). */
export const JudgeConfigSchema = z.looseObject({
  judge_model: z.string().min(1),
  reference: z.literal(false).nullable().optional(),
  baseline: z.literal(true),
  baseline_model: z.string().min(1),
  pairwise: z.literal(true),
  temperature: z.number(),
  max_tokens: z.int().min(1),
  regex_pattern: z.string().min(1),
  number_of_judgment_attempts: z.int().min(1),
  system_prompt: z.string(),
  prompt_template: z.array(z.string()).min(1),
});
export type JudgeConfig = z.infer<typeof JudgeConfigSchema>;
