import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  gameOutcome,
  labelPreference,
  parseStructuredScore,
  parseVerdictLabel,
  winShare,
} from '../../core/judge-replies.js';

test('structured pointwise replies are validated: JSON with a score on the scale, or nothing', () => {
  assert.equal(parseStructuredScore('{"score": 7}', 10), 7);
  assert.equal(parseStructuredScore('```json\n{"score": 4, "reason": "misses a step"}\n```', 10), 4);
  assert.equal(parseStructuredScore('{"score": "7"}', 10), null, 'a string is not a score');
  assert.equal(parseStructuredScore('{"score": 11}', 10), null, 'off the scale');
  assert.equal(parseStructuredScore('{"rating": 7}', 10), null);
  assert.equal(parseStructuredScore('{"score": 7', 10), null, 'truncated JSON');
  assert.equal(parseStructuredScore('NaN', 10), null);
});

// The end of a real-shaped Arena-Hard judgment (gpt-4-1106-preview style).
const judgment = `My own answer: a sorted merge runs in O(n log n).

Assistant A's answer is correct but verbose. Assistant B's answer is concise and also correct, and it
explains the edge case of empty input.

My final verdict is: Assistant B is slightly better: [[B>A]]`;

test('Arena-Hard verdict labels are read like the official parser: every [[...]] must agree', () => {
  assert.equal(parseVerdictLabel(judgment), 'B>A');
  assert.equal(parseVerdictLabel('Tie. [[A=B]]'), 'A=B');
  assert.equal(parseVerdictLabel('[[A>>B]] ... so my final verdict is [[A>>B]]'), 'A>>B');
  assert.equal(parseVerdictLabel('First [[A>B]], but on reflection [[B>A]]'), null, 'contradictory');
  assert.equal(parseVerdictLabel('Assistant A is better.'), null, 'no label');
  assert.equal(parseVerdictLabel('[[A>>>B]]'), null, 'not one of the five labels');
});

test('both games of a pair give an Arena-Hard win share with strong verdicts counted three times', () => {
  // Game 1: the response is B and wins strongly; game 2: the response is A and ties.
  const games = [gameOutcome('B>>A', 'B'), gameOutcome('A=B', 'A')];
  assert.deepEqual(games, [
    { outcome: 1, weight: 3 },
    { outcome: 0.5, weight: 1 },
  ]);
  assert.equal(winShare(games), (3 + 0.5) / 4);
  assert.equal(winShare([gameOutcome('A>B', 'B'), gameOutcome('B>A', 'A')]), 0, 'lost both');
});

test('AlpacaEval-style preference from the first token logprobs of the two labels', () => {
  // top_logprobs of a real chat-completions reply: labels may come with leading spaces.
  const top = [
    { token: 'M', logprob: Math.log(0.6) },
    { token: 'm', logprob: Math.log(0.2) },
    { token: ' M', logprob: Math.log(0.1) },
    { token: 'The', logprob: Math.log(0.05) },
  ];
  const p = labelPreference(top, ['m', 'M'])!;
  assert.ok(Math.abs(p - 0.7 / 0.9) < 1e-12);
  assert.equal(
    labelPreference([{ token: 'The', logprob: -0.1 }], ['m', 'M']),
    null,
    'neither label: unreadable',
  );
  assert.equal(labelPreference([], ['m', 'M']), null);
});
