import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { arithmeticProblems } from '../../core/arithmetic.js';
import { extractNumber, parseJudgeScore, verifyNumeric } from '../../core/verify.js';
import { sharedFile } from '../support/paths.js';

test('extractors: strict, boxed, then the last number', () => {
  assert.deepEqual(extractNumber('so 3 + 4 = 7\n#### 7'), { extractor: 'strict', value: '7' });
  assert.deepEqual(extractNumber('The answer is \\boxed{1,200}.'), { extractor: 'boxed', value: '1,200' });
  assert.deepEqual(extractNumber('She has 5 apples, then 2 more: 7 apples.'), {
    extractor: 'flexible',
    value: '7',
  });
  assert.equal(extractNumber('no digits here'), null);
});

test('numeric verification ignores commas and dollar signs, rejects wrong values', () => {
  assert.equal(verifyNumeric('It costs $1,250.', '1250').correct, true);
  assert.equal(verifyNumeric('It costs 1,251 dollars.', '1250').correct, false);
  assert.equal(verifyNumeric('I do not know.', '3').correct, false);
});

// The public GSM8K test file: every gold answer, written as a model would, verifies; a wrong one does not.
const { path: gsm8k, skip } = sharedFile('gsm8k/test.jsonl');
test('GSM8K gold answers verify in model-like phrasings', { skip }, (t) => {
  const rows = readFileSync(gsm8k, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { answer: string });
  let verified = 0;
  let rejected = 0;
  for (const row of rows) {
    const gold = row.answer.split('####').at(-1)!.trim();
    const ok = [`The answer is ${gold}.`, `${row.answer}`, `So the total is \\boxed{${gold}}`].every(
      (text) => verifyNumeric(text, gold).correct,
    );
    if (ok) verified++;
    if (!verifyNumeric(`The answer is ${Number(gold.replace(/,/g, '')) + 1}.`, gold).correct) rejected++;
  }
  t.diagnostic(`GSM8K: ${verified}/${rows.length} gold verified, ${rejected}/${rows.length} wrong rejected`);
  assert.equal(verified, rows.length);
  assert.equal(rejected, rows.length);
});

test('judge scores are parsed from real-shaped replies, never invented', () => {
  assert.equal(parseJudgeScore('8', 10), 8);
  assert.equal(parseJudgeScore('Score: 7/10', 10), 7);
  assert.equal(parseJudgeScore('I would rate this a 6 out of 10.', 10), 6);
  assert.equal(parseJudgeScore('Excellent answer!', 10), null);
  assert.equal(parseJudgeScore('42', 10), null);
});

test('generated arithmetic problems are reproducible and carry correct answers', () => {
  const a = arithmeticProblems(50, 3, 20);
  assert.deepEqual(a, arithmeticProblems(50, 3, 20));
  assert.notDeepEqual(a, arithmeticProblems(50, 4, 20));
  for (const p of a) {
    const [x, y] = p.prompt.match(/\d+/g)!.map(Number);
    const expected = p.prompt.includes('more') ? x! + y! : x! - y!;
    assert.equal(p.answer, String(expected));
    assert.ok(expected >= 0);
  }
});

test('numbered lists and prose are not mistaken for scores', () => {
  assert.equal(parseJudgeScore('1. Shining silver\n2. waves', 10), null);
  assert.equal(parseJudgeScore('Sleep matters.\n\nScore (1', 10), null);
  assert.equal(parseJudgeScore('**9**', 10), 9);
  assert.equal(parseJudgeScore('7 out of 10', 10), 7);
  assert.equal(parseJudgeScore('The score is 4.', 10), 4);
});
