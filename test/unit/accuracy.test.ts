import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { accuracyByExtractor } from '../../core/metrics/accuracy.js';
import { mathEquivalence } from '../../core/math-answer.js';
import { sharedFile } from '../support/paths.js';

const mathAnswersMatch = (a: string, b: string) => mathEquivalence(a, b) !== null;

test('MATH answers: equal forms match, different answers do not', () => {
  for (const [a, b] of [
    ['\\dfrac{1}{2}', '\\frac12'],
    ['0.5', '\\frac{1}{2}'],
    ['5\\text{ cm}', '5'],
    ['x = 3', '3'],
    ['\\left( 1, 2 \\right)', '(1,2)'],
    ['90^\\circ', '90'],
    ['1/3', '\\frac{1}{3}'],
    ['\\text{Monday}', 'Monday'],
  ])
    assert.ok(mathAnswersMatch(a!, b!), `${a} = ${b}`);
  for (const [a, b] of [
    ['3', '4'],
    ['\\frac{1}{3}', '\\frac{1}{2}'],
    ['(1,2)', '(2,1)'],
  ])
    assert.ok(!mathAnswersMatch(a!, b!), `${a} != ${b}`);
});

test('accuracy per extractor: each extractor on its own, misses counted', () => {
  const rows = accuracyByExtractor('gsm8k', [
    { response: 'so 3 + 4 = 7\n#### 7', gold: '7' },
    { response: 'It is \\boxed{12}, not 13', gold: '12' },
    { response: 'I think 5', gold: '6' },
  ]);
  assert.deepEqual(
    rows.map((r) => [r.extractor, r.correct, r.extracted, r.total]),
    [
      ['strict', 1, 1, 3],
      ['boxed', 1, 1, 3],
      ['flexible', 1, 3, 3],
    ],
  );
  const math = accuracyByExtractor('math', [
    { response: 'Thus $\\boxed{\\dfrac{3}{4}}$.', gold: '\\frac34' },
  ]);
  assert.deepEqual(math, [{ extractor: 'boxed', correct: 1, extracted: 1, total: 1, accuracy: 1 }]);
});

// MATH-500's worked solutions end in \boxed{answer}: graded against the official answer field, all are
// right; graded against the next problem's answer, almost none are.
const { path: math500, skip } = sharedFile('math500/test.jsonl');
test('MATH-500 solutions grade as correct against their own answers only', { skip }, () => {
  const rows = readFileSync(math500, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { solution: string; answer: string });
  const own = accuracyByExtractor(
    'math',
    rows.map((r) => ({ response: r.solution, gold: r.answer })),
  );
  assert.equal(own[0]!.correct, 500);
  const shifted = accuracyByExtractor(
    'math',
    rows.map((r, i) => ({ response: r.solution, gold: rows[(i + 1) % rows.length]!.answer })),
  );
  assert.ok(shifted[0]!.accuracy < 0.05, `spurious matches: ${shifted[0]!.correct}`);
});
