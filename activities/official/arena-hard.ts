/**
 * The official Arena-Hard v0.1 judge (lmarena/arena-hard-auto gen_judgment.py at e8834103), driven by the
 * judge_config.yaml the user points to: the conversation of each game, the follow-up turn when no
 * verdict is found, and the verdict regex. Each function names the official code it reproduces.
 */
import type { JudgeConfig } from '../../core/official-judges.js';

/** The user turn gen_judgment.py adds when a reply has no verdict yet. */
export const CONTINUE_PROMPT = 'continue your judgment and finish by outputting a final verdict label';

/** Python's str.format with named fields only (the templates use no format specs). */
export function pythonFormat(template: string, args: Record<string, string>): string {
  return template.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (match, name: string | undefined) => {
    if (match === '{{') return '{';
    if (match === '}}') return '}';
    const value = args[name!];
    if (value === undefined) throw new Error(`the judge prompt template has an unknown field {${name}}`);
    return value;
  });
}

/** get_score: the verdict when the matches agree; retry only when there is none at all. */
export function getScore(judgment: string, pattern: string): { score: string | null; tryAgain: boolean } {
  const matches = [...judgment.matchAll(new RegExp(pattern, 'g'))]
    .map((m) => (m.length > 1 ? (m[1] ?? '') : m[0]))
    .filter((m) => m !== '');
  const distinct = new Set(matches);
  if (distinct.size === 0) return { score: null, tryAgain: true };
  if (distinct.size === 1) return { score: matches[0]!.replace(/^\n+|\n+$/g, ''), tryAgain: false };
  return { score: null, tryAgain: false };
}

export type Message = { role: 'system' | 'user' | 'assistant'; content: string };
export interface Game {
  user_prompt: string;
  judgment: string;
  score: string | null;
}

/**
 * One game of judgment(): game 0 shows the baseline as assistant A, game 1 the model's answer. Asks
 * up to number_of_judgment_attempts times, each reply appended to the judgment after a newline.
 */
export async function playGame(
  config: JudgeConfig,
  row: { question: string; answer: string; baseline: string },
  game: 0 | 1,
  ask: (messages: Message[], attempt: number) => Promise<string>,
): Promise<Game> {
  const [a, b] = game === 0 ? [row.baseline, row.answer] : [row.answer, row.baseline];
  const conv: Message[] = [{ role: 'system', content: config.system_prompt }];
  for (const template of config.prompt_template)
    conv.push({
      role: 'user',
      content: pythonFormat(template, { question_1: row.question, answer_1: a, answer_2: b }),
    });
  let judgment = '';
  let score: string | null = null;
  for (let attempt = 0; attempt < config.number_of_judgment_attempts; attempt++) {
    const reply = await ask([...conv], attempt);
    judgment += '\n' + reply;
    const read = getScore(judgment, config.regex_pattern);
    score = read.score;
    conv.push({ role: 'assistant', content: reply });
    if (!read.tryAgain) break;
    conv.push({ role: 'user', content: CONTINUE_PROMPT });
  }
  return { user_prompt: conv[1]!.content, judgment, score };
}
