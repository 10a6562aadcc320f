import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getScore, pythonFormat } from '../../activities/official/arena-hard.js';
import { fillTemplate, logprobPreference, promptToChatml } from '../../activities/official/alpaca-eval.js';
import type { Annotator } from '../../core/official-judges.js';
import { pythonRandom } from '../../activities/official/python-random.js';

test("pythonRandom reproduces CPython's random.Random(str).random() stream", () => {
  // Printed by CPython 3.11: random.Random(s).random(), twice.
  const expected: [string, number, number][] = [
    ['a', 0.2720295377534757, 0.06733663088629693],
    ['is_switched_outputsWhat is 2+2?0', 0.05631924392020804, 0.09815002237016135],
    ['', 0.9602256525641875, 0.595411957851699],
    ['héllo✓'.repeat(50), 0.3073066550198468, 0.360429681028098],
  ];
  for (const [seed, first, second] of expected) {
    const random = pythonRandom(seed);
    assert.deepEqual([random(), random()], [first, second], JSON.stringify(seed.slice(0, 20)));
  }
});

const annotator = {
  name: 'a',
  template: '',
  config: {
    completion_parser_kwargs: { numerator_token: 'm', denominator_tokens: ['m', 'M'], is_binarize: false },
  },
} as unknown as Annotator;

test('logprob_parser: 2 - P(m) over m and M; none of them, or not one token, gives no preference', () => {
  const lp = (m: number, M: number) => [
    {
      top_logprobs: [
        { token: 'm', logprob: Math.log(m) },
        { token: 'M', logprob: Math.log(M) },
      ],
    },
  ];
  assert.ok(Math.abs(logprobPreference(annotator, lp(0.3, 0.6))! - (2 - 1 / 3)) < 1e-12);
  assert.equal(logprobPreference(annotator, [{ top_logprobs: [{ token: 'M', logprob: -0.1 }] }]), 2);
  assert.equal(logprobPreference(annotator, [{ top_logprobs: [{ token: 'Both', logprob: -0.1 }] }]), null);
  assert.equal(logprobPreference(annotator, []), null);
  assert.equal(logprobPreference(annotator, null), null);
  assert.equal(logprobPreference(annotator, [...lp(0.5, 0.5), ...lp(0.5, 0.5)]), null);
});

test('make_prompts and prompt_to_chatml: placeholders replaced once in sequence, roles from the ChatML blocks', () => {
  const template =
    '<|im_start|>system\n S {x}\n<|im_end|>\n<|im_start|>user\n{a} / {b} {not a placeholder}\n<|im_end|>';
  assert.throws(() => fillTemplate(template, { a: '1', b: '2' }), /unknown placeholder \{x\}/);
  const prompt = fillTemplate(template, { x: '{b}', a: '{b}', b: 'B' });
  assert.deepEqual(promptToChatml(prompt), [
    { role: 'system', content: 'S B' },
    { role: 'user', content: '{b} / {b} {not a placeholder}' },
  ]);
});

test("gen_judgment.py's get_score and the template's str.format", () => {
  const pattern = '\\[\\[([AB<>=]+)\\]\\]';
  assert.deepEqual(getScore('\nverdict [[A>B]] and again [[A>B]]', pattern), {
    score: 'A>B',
    tryAgain: false,
  });
  assert.deepEqual(getScore('\n[[A>B]] or [[B>A]]', pattern), { score: null, tryAgain: false });
  assert.deepEqual(getScore('\nno verdict', pattern), { score: null, tryAgain: true });
  assert.equal(pythonFormat('{{x}} {question_1}', { question_1: '{answer_1}' }), '{x} {answer_1}');
  assert.throws(() => pythonFormat('{other}', {}), /unknown field \{other\}/);
});
