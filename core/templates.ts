import type { Message, PromptRecord } from './records.js';
import type { Refinement } from './config.js';

/** The refinement context c(x, y, z) of method.md: the conversation that asks for a revision of `answer`. */
export function refinementContext(prompt: string, answer: string, refinement: Refinement): Message[] {
  if (refinement.template === 'single-turn') {
    return [
      {
        role: 'user',
        content: `${prompt}\n\nHere is a previous answer:\n${answer}\n\n${refinement.instruction}`,
      },
    ];
  }
  return [
    { role: 'user', content: prompt },
    { role: 'assistant', content: answer },
    { role: 'user', content: refinement.instruction },
  ];
}

/**
 * The refinement (template and instruction z) a context c(x, y, z) was built with, read back from it: SRPO
 * rebuilds c(x, y_w, z) from a refinement row's c(x, y_l, z). Null when the context is not one of `answer`.
 */
export function refinementOf(context: Message[], prompt: string, answer: string): Refinement | null {
  const [first, second, third] = context;
  if (context.length === 3 && first?.content === prompt && second?.content === answer && third) {
    return { template: 'multi-turn', instruction: third.content };
  }
  const head = refinementContext(prompt, answer, { template: 'single-turn', instruction: '' })[0]!.content;
  if (context.length === 1 && first?.role === 'user' && first.content.startsWith(head)) {
    return { template: 'single-turn', instruction: first.content.slice(head.length) };
  }
  return null;
}

export function directContext(prompt: PromptRecord | string): Message[] {
  return [{ role: 'user', content: typeof prompt === 'string' ? prompt : prompt.prompt }];
}

/** A stable, dependency-free 64-bit FNV-1a hash (hex). Used where workflow code needs a hash, and for seeds. */
export function fnv1a64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  for (let i = 0; i < text.length; i++) {
    hash ^= BigInt(text.charCodeAt(i));
    hash = (hash * prime) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, '0');
}

/**
 * Identifies a template version by its content: the context it renders around placeholders, so a change
 * of wording, instruction or variant changes the hash. Recorded with every refinement and refinement pair.
 */
export function templateHash(refinement: Refinement): string {
  return fnv1a64(JSON.stringify(refinementContext('{prompt}', '{answer}', refinement)));
}

/**
 * Distinct, reproducible seeds per (base seed, prompt, chain, step). FNV-1a barely mixes its last
 * characters into the high bits, so chains of one prompt shared low seed bits; a murmur3 finaliser
 * spreads every input bit over the seed.
 */
export function seedFor(base: number, promptId: string, chain: number, step: number): number {
  let h = BigInt(`0x${fnv1a64(`${promptId}/${chain}/${step}`)}`);
  const mask = 0xffffffffffffffffn;
  h = ((h ^ (h >> 33n)) * 0xff51afd7ed558ccdn) & mask;
  h = ((h ^ (h >> 33n)) * 0xc4ceb9fe1a85ec53n) & mask;
  h ^= h >> 33n;
  return (base + Number(h % 2_147_483_647n)) % 2_147_483_647;
}
