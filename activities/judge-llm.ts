import type { LlmJudge } from '../core/config.js';
import {
  gameOutcome,
  labelPreference,
  parseStructuredScore,
  parseVerdictLabel,
  pointwiseJsonSchema,
  winShare,
} from '../core/judge-replies.js';
import { fnv1a64, seedFor } from '../core/templates.js';
import { parseJudgeScore } from '../core/verify.js';
import { askUntilReadable, type JudgeAdapter, type JudgeItem, type Reading } from './judge-adapter.js';
import type { ChatFn } from './inference.js';

/** AlpacaEval's output identifiers: single tokens whose logprobs give the preference. */
export const LABELS = ['m', 'M'] as const;

function pointwisePrompt(judge: LlmJudge, item: JudgeItem): string {
  const reply = judge.structuredOutput
    ? `Reply with JSON only: {"score": <integer 1-${judge.maxScore}>}`
    : `Score (1-${judge.maxScore}):`;
  return `${judge.rubric}\n\n[Question]\n${item.prompt}\n\n[Response]\n${item.response}\n\n${reply}`;
}

/** AlpacaEval's comparison: which of two outputs, shown as m and M, is better. */
export function labelPrompt(
  judge: Pick<LlmJudge, 'rubric'>,
  prompt: string,
  first: string,
  second: string,
): string {
  return (
    `${judge.rubric}\n\n[Instruction]\n${prompt}\n\n[Output (${LABELS[0]})]\n${first}\n\n` +
    `[Output (${LABELS[1]})]\n${second}\n\nWhich output is better? Answer with its identifier only: ${LABELS[0]} or ${LABELS[1]}.`
  );
}

/** Arena-Hard's comparison of assistants A and B, ending in a [[verdict]] label. */
export function verdictPrompt(judge: Pick<LlmJudge, 'rubric'>, prompt: string, a: string, b: string): string {
  return (
    `${judge.rubric}\n\n<|User Prompt|>\n${prompt}\n\n` +
    `<|The Start of Assistant A's Answer|>\n${a}\n<|The End of Assistant A's Answer|>\n\n` +
    `<|The Start of Assistant B's Answer|>\n${b}\n<|The End of Assistant B's Answer|>\n\n` +
    'End with your final verdict, one label: [[A>>B]], [[A>B]], [[A=B]], [[B>A]] or [[B>>A]].'
  );
}

/** LLM-as-judge: pointwise (rubric score), or pairwise against the prompt's first answer. */
export function llmJudge(judge: LlmJudge, chat: ChatFn): JudgeAdapter {
  const template = { mode: judge.mode, rubric: judge.rubric, maxScore: judge.maxScore };
  const ask = (item: JudgeItem, content: string, attempt: number, signal: AbortSignal, extra = {}) =>
    chat({
      model: judge.model,
      messages: [{ role: 'user', content }],
      // A first unreadable reply is asked again with some temperature: greedy decoding would repeat it.
      temperature: attempt === 0 ? 0 : 0.7,
      maxTokens: judge.maxTokens,
      seed: seedFor(attempt, item.key, 0, 0),
      signal,
      ...extra,
    });

  const judgeItem = async (item: JudgeItem, signal: AbortSignal) => {
    const anchor = item.anchor ?? '';
    switch (judge.mode) {
      case 'pointwise':
        return askUntilReadable(judge.attempts, async (attempt): Promise<Reading> => {
          const reply = await ask(
            item,
            pointwisePrompt(judge, item),
            attempt,
            signal,
            judge.structuredOutput ? { jsonSchema: pointwiseJsonSchema(judge.maxScore) } : {},
          );
          const score = judge.structuredOutput
            ? parseStructuredScore(reply.text, judge.maxScore)
            : parseJudgeScore(reply.text, judge.maxScore);
          return { raw: reply.text, score };
        });
      case 'pairwise-logprobs': {
        // The presentation order is drawn per item (AlpacaEval randomises it per instruction).
        const responseSecond = parseInt(fnv1a64(item.key).slice(-1), 16) % 2 === 0;
        const [first, second] = responseSecond ? [anchor, item.response] : [item.response, anchor];
        return askUntilReadable(judge.attempts, async (attempt): Promise<Reading> => {
          const reply = await ask(item, labelPrompt(judge, item.prompt, first, second), attempt, signal, {
            topLogprobs: 5,
          });
          const pSecond = labelPreference(reply.firstTokenLogprobs ?? [], LABELS);
          const score = pSecond === null ? null : responseSecond ? pSecond : 1 - pSecond;
          return { raw: JSON.stringify({ text: reply.text, top: reply.firstTokenLogprobs ?? [] }), score };
        });
      }
      case 'pairwise-verdict': {
        // Both orders are played, as Arena-Hard does: the anchor first, then the response first.
        const games = [];
        const raws: string[] = [];
        for (const [a, b, position] of [
          [anchor, item.response, 'B'],
          [item.response, anchor, 'A'],
        ] as const) {
          const game = await askUntilReadable(judge.attempts, async (attempt): Promise<Reading> => {
            const reply = await ask(item, verdictPrompt(judge, item.prompt, a, b), attempt, signal);
            const label = parseVerdictLabel(reply.text);
            return {
              raw: reply.text,
              score: label === null ? null : gameOutcome(label, position).outcome,
              extracted: label ?? undefined,
            };
          });
          if (game.status !== 'ok') return game;
          raws.push(game.raw ?? '');
          games.push(gameOutcome(parseVerdictLabel(game.raw ?? '')!, position));
        }
        return {
          status: 'ok' as const,
          score: winShare(games),
          extracted: raws.map((r) => parseVerdictLabel(r)).join(' | '),
          raw: raws.join('\n---\n'),
        };
      }
    }
  };

  return {
    name: `llm:${judge.mode}:${judge.model}`,
    identity: JSON.stringify({
      judge: 'llm',
      model: judge.model,
      ...template,
      structured: judge.structuredOutput,
    }),
    pairwise: judge.mode !== 'pointwise',
    concurrency: judge.endpoint.maxConcurrency,
    judge: judgeItem,
  };
}
