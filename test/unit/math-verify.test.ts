import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { lastBoxed, mathEquivalence, normaliseMathAnswer } from '../../core/math-answer.js';
import { verifyMath } from '../../core/verify.js';
import { sharedFile } from '../support/paths.js';

test('the last \\boxed{} is taken with balanced braces', () => {
  assert.equal(lastBoxed('first \\boxed{1} then \\boxed{\\frac{1}{2}}.'), '\\frac{1}{2}');
  assert.equal(lastBoxed('so \\boxed 7 is it'), '7');
  assert.equal(lastBoxed('\\fbox{x^{2}}'), 'x^{2}');
  assert.equal(lastBoxed('\\boxed{unclosed'), null);
  assert.equal(lastBoxed('no box'), null);
});

test('normalisation follows the MATH and PRM800K graders', () => {
  assert.equal(normaliseMathAnswer('\\left( 3, \\dfrac{\\pi}{2} \\right)'), '(3,\\frac{\\pi}{2})');
  assert.equal(normaliseMathAnswer('10\\text{ cm}'), '10');
  assert.equal(normaliseMathAnswer('\\text{Evelyn}'), 'Evelyn');
  assert.equal(normaliseMathAnswer('90^\\circ'), '90');
  assert.equal(normaliseMathAnswer('x = 5.'), '5');
  assert.equal(normaliseMathAnswer('\\$1,000,000'), '1000000');
  assert.equal(normaliseMathAnswer('\\frac12'), '\\frac{1}{2}');
  assert.equal(normaliseMathAnswer('.5'), '0.5');
});

test('equivalence: string, then numeric, then symbolic; tuples element by element', () => {
  assert.equal(mathEquivalence('\\dfrac{3}{4}', '\\frac34'), 'string');
  assert.equal(mathEquivalence('0.75', '\\frac{3}{4}'), 'numeric');
  assert.equal(mathEquivalence('2\\sqrt{2}', '\\sqrt{8}'), 'numeric');
  assert.equal(mathEquivalence('x^2+2x+1', '(x+1)^2'), 'symbolic');
  assert.equal(mathEquivalence('(1, \\frac{1}{2})', '(1,0.5)'), 'numeric');
  assert.equal(mathEquivalence('(1,2)', '(1,3)'), null);
  assert.equal(mathEquivalence('[0,1)', '[0,1]'), null, 'open and closed intervals differ');
  assert.equal(mathEquivalence('x^2+1', 'x^2-1'), null);
  assert.equal(mathEquivalence('11111111101', '11,111,111,100'), null, 'large integers are compared exactly');
});

test('verifyMath records the extractor and rejects answers it cannot find', () => {
  assert.deepEqual(verifyMath('The answer is $\\boxed{\\frac{1}{2}}$.', '0.5'), {
    correct: true,
    extracted: '\\frac{1}{2}',
    extractor: 'boxed',
    equivalence: 'numeric',
  });
  assert.equal(verifyMath('So the final answer is 12.', '12').extractor, 'answer-is');
  assert.equal(verifyMath('I am not sure.', '12').correct, false);
});

// The public MATH-500 file: every gold answer, written as a model would, verifies; wrong ones do not.
const { path: math500, skip } = sharedFile('math500/test.jsonl');
test('MATH-500 gold answers verify in model-like phrasings; wrong answers are rejected', { skip }, (t) => {
  const rows = readFileSync(math500, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { answer: string; solution: string });
  let verified = 0;
  let wrong = 0;
  let rejected = 0;
  rows.forEach((row, i) => {
    const gold = row.answer;
    const phrasings = [
      row.solution,
      `So the final answer is $\\boxed{${gold}}$.`,
      `The answer is $${gold.replace(/\\frac/g, '\\dfrac')}$.`,
      `Therefore \\boxed{\\left. ${gold} \\right.}`,
    ];
    if (phrasings.every((text) => verifyMath(text, gold).correct)) verified++;
    // Wrong: the next problem's answer (when it differs) and the gold answer plus one.
    const other = rows[(i + 1) % rows.length]!.answer;
    for (const bad of normaliseMathAnswer(other) === normaliseMathAnswer(gold)
      ? [`${gold}+1`]
      : [other, `${gold}+1`]) {
      wrong++;
      if (!verifyMath(`\\boxed{${bad}}`, gold).correct) rejected++;
    }
  });
  t.diagnostic(`MATH-500: ${verified}/${rows.length} gold verified, ${rejected}/${wrong} wrong rejected`);
  assert.equal(verified, rows.length);
  assert.equal(rejected, wrong);
});
