/**
 * The official AlpacaEval 2 annotator (`weighted_alpaca_eval_gpt4_turbo` of alpaca-eval 0.6.6), read from
 * the package's own configs.yaml and prompt template: what it sends and how it reads the reply. Each
 * function names the alpaca_eval code it reproduces.
 */
import { without } from '../../storage/reuse.js';
import { pythonRandom } from './python-random.js';
import type { Annotator } from '../../core/official-judges.js';

/**
 * The request body's decoding parameters besides the model (decoders/openai.py `_openai_completion_helper`:
 * top_p and temperature default to 1.0 and 0.7 and are sent unless None).
 */
export function annotatorParams(annotator: Annotator): Record<string, unknown> {
  const { top_p = 1.0, temperature = 0.7, ...rest } = annotator.config.completions_kwargs;
  return { ...without(rest, 'model_name'), ...(top_p === null ? {} : { top_p }), temperature };
}

// Python's str.isspace() characters: what str.strip() removes (JavaScript's trim differs on a few).
const PY_SPACE =
  '[\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const pyStrip = (s: string) => s.replace(new RegExp(`^${PY_SPACE}+|${PY_SPACE}+$`, 'gu'), '');

/**
 * utils.make_prompts with batch_size 1: each placeholder, in order of first appearance, replaced once,
 * in sequence (so a placeholder inside an earlier value is replaced there, as the official code does).
 */
export function fillTemplate(template: string, values: Record<string, string>): string {
  const placeholders = [...new Set([...template.matchAll(/{([^ \s]+?)}/g)].map((m) => m[1]!))];
  let prompt = template;
  for (const p of placeholders) {
    const value = values[p];
    if (value === undefined) throw new Error(`the annotator template has an unknown placeholder {${p}}`);
    const at = prompt.indexOf(`{${p}}`);
    prompt = prompt.slice(0, at) + value + prompt.slice(at + p.length + 2);
  }
  return prompt;
}

/** utils.prompt_to_chatml after the decoder's strip: <|im_start|>role\ncontent<|im_end|> blocks to messages. */
const ROLES = ['system', 'user', 'assistant'] as const;

export function promptToChatml(prompt: string): { role: (typeof ROLES)[number]; content: string }[] {
  const text = pyStrip(pyStrip(prompt));
  if (!text.startsWith('<|im_start|>') || !text.endsWith('<|im_end|>'))
    throw new Error('the annotator prompt is not ChatML (<|im_start|> ... <|im_end|>)');
  return text
    .split('<|im_start|>')
    .slice(1)
    .map((block) => {
      const nl = block.indexOf('\n');
      const role = pyStrip(nl < 0 ? block : block.slice(0, nl));
      const rest = nl < 0 ? '' : block.slice(nl + 1);
      const end = rest.indexOf('<|im_end|>');
      const known = ROLES.find((r) => r === role);
      if (!known) throw new Error(`ChatML role "${role}" is not supported`);
      return { role: known, content: pyStrip(end < 0 ? rest : rest.slice(0, end)) };
    });
}

/**
 * processors.RandomSwitchTwoColumnsProcessor: the draw that decides whether output_2 is shown first,
 * `random.Random("is_switched_outputs" + instruction + str(seed))`; `.choices([False, True])` switches
 * when it is at least 0.5.
 */
export const switchDraw = (instruction: string, seed: number): number =>
  pythonRandom(`is_switched_outputs${instruction}${seed}`)();
export const isSwitched = (draw: number): boolean => Math.floor(draw * 2) === 1;

/** The messages of one comparison: output_1 is the reference, output_2 the model's, possibly switched. */
export function annotatorMessages(
  annotator: Annotator,
  row: { instruction: string; output_1: string; output_2: string },
  switched: boolean,
) {
  const [first, second] = switched ? [row.output_2, row.output_1] : [row.output_1, row.output_2];
  return promptToChatml(
    fillTemplate(annotator.template, { instruction: row.instruction, output_1: first, output_2: second }),
  );
}

type TopLogprob = { token: string; logprob: number };
const logsumexp = (xs: number[]) => {
  const m = Math.max(...xs);
  return m === -Infinity ? -Infinity : m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
};

/**
 * completion_parsers.logprob_parser with batch_size 1, for the shown order: 1 prefers the first output,
 * 2 the second. null where the harness records no annotation: no logprobs, not exactly one token, or
 * none of the tokens among the top alternatives.
 */
export function logprobPreference(
  annotator: Annotator,
  content: readonly { top_logprobs?: readonly TopLogprob[] }[] | null | undefined,
): number | null {
  if (!content || content.length !== 1 || !content[0]!.top_logprobs) return null;
  const {
    numerator_token: num,
    denominator_tokens: den,
    is_binarize,
  } = annotator.config.completion_parser_kwargs;
  const known = new Map<string, number>();
  for (const t of content[0]!.top_logprobs)
    if (den.includes(t.token) || t.token === num) known.set(t.token, t.logprob);
  if (known.size === 0) return null;
  const lp = (t: string) => known.get(t) ?? -Infinity;
  if (is_binarize) return den.filter((t) => t !== num).every((t) => lp(num) > lp(t)) ? 1 : 2;
  return 2 - Math.exp(lp(num) - logsumexp(den.map(lp)));
}

/** The preference for output_2 over output_1 (pairwise_evaluator's 3 - x when switched; 1.5 for equal outputs). */
export function unswitch(shown: number | null, switched: boolean): number | null {
  return shown === null ? null : switched ? 3 - shown : shown;
}
