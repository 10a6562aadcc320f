import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PairingSchema, type Pairing, type Refinement } from '../../core/config.js';
import { evolveRows, selectPair, sftRows, srpoRows } from '../../core/pairing.js';
import type { ScoredGeneration } from '../../core/strategies.js';
import { refinementContext, templateHash } from '../../core/templates.js';
import type { GenerationRecord } from '../../core/records.js';

const pairing: Pairing = PairingSchema.parse({ rule: 'max-min', margin: 0.5 });
const refinement: Refinement = { template: 'multi-turn', instruction: 'Improve it.' };

function response(chain: number, step: number, score: number | null, text?: string): ScoredGeneration {
  const id = `p/${chain}/${step}`;
  const generation = {
    id,
    promptId: 'p',
    chain,
    step,
    text: text ?? `answer ${chain}.${step}`,
  } as GenerationRecord;
  return {
    generation,
    score:
      score === null
        ? {
            generationId: id,
            promptId: 'p',
            chain,
            step,
            judge: 'llm',
            status: 'unparseable',
            score: null,
            extracted: null,
            raw: 'meh',
          }
        : {
            generationId: id,
            promptId: 'p',
            chain,
            step,
            judge: 'llm',
            status: 'ok',
            score,
            extracted: String(score),
            raw: null,
          },
  };
}

test('max-min picks the best and the worst response', () => {
  const decision = selectPair([response(0, 1, 3), response(0, 2, 8), response(1, 1, 5)], pairing);
  assert.equal(decision.kind, 'pair');
  if (decision.kind !== 'pair') return;
  assert.equal(decision.chosen.id, 'p/0/2');
  assert.equal(decision.rejected.id, 'p/0/1');
  assert.equal(decision.margin, 5);
});

test('ties prefer the later refinement as chosen and the first answer as rejected', () => {
  const decision = selectPair(
    [response(0, 2, 1), response(0, 1, 0), response(1, 1, 1), response(1, 2, 0)],
    pairing,
  );
  assert.ok(decision.kind === 'pair');
  assert.equal(decision.chosen.id, 'p/0/2');
  assert.equal(decision.rejected.id, 'p/0/1');
});

test('prompts below the margin, unjudged or with one judged response are dropped with a reason', () => {
  assert.deepEqual(selectPair([response(0, 1, 1), response(0, 2, 1)], pairing), {
    kind: 'drop',
    reason: 'below-margin',
  });
  assert.deepEqual(selectPair([response(0, 1, 5), response(0, 2, 5.4)], pairing), {
    kind: 'drop',
    reason: 'below-margin',
  });
  assert.deepEqual(selectPair([response(0, 1, null), response(0, 2, null)], pairing), {
    kind: 'drop',
    reason: 'unjudged',
  });
  assert.deepEqual(selectPair([response(0, 1, 4), response(0, 2, null)], pairing), {
    kind: 'drop',
    reason: 'single-response',
  });
});

test('a selected triple becomes a direct pair and a refinement pair in TRL conversational format', () => {
  const decision = selectPair([response(0, 1, 2), response(0, 2, 9)], pairing);
  assert.ok(decision.kind === 'pair');
  const rows = evolveRows('What is 2+2?', decision, pairing, refinement);
  assert.deepEqual(
    rows.map((r) => [r.kind, r.prompt]),
    [
      ['direct', [{ role: 'user', content: 'What is 2+2?' }]],
      [
        'refinement',
        [
          { role: 'user', content: 'What is 2+2?' },
          { role: 'assistant', content: 'answer 0.1' },
          { role: 'user', content: 'Improve it.' },
        ],
      ],
    ],
  );
  for (const row of rows) {
    assert.deepEqual(row.chosen, [{ role: 'assistant', content: 'answer 0.2' }]);
    assert.deepEqual(row.rejected, [{ role: 'assistant', content: 'answer 0.1' }]);
  }
  assert.deepEqual(
    rows.map((r) => r.templateHash),
    [null, templateHash(refinement)],
    'a refinement row names its template',
  );
  const plain = evolveRows('What is 2+2?', decision, { ...pairing, refinementPairs: false }, refinement);
  assert.deepEqual(
    plain.map((r) => r.kind),
    ['direct'],
    'plain iterative DPO keeps direct pairs only',
  );
});

test('last-vs-first pairs the last refinement against the first answer, whatever the scores', () => {
  const rule: Pairing = { ...pairing, rule: 'last-vs-first' };
  const decision = selectPair(
    [response(0, 3, 0), response(0, 1, 9), response(0, 2, 5), response(1, 1, 1)],
    rule,
  );
  assert.ok(decision.kind === 'pair');
  assert.equal(decision.chosen.id, 'p/0/3');
  assert.equal(decision.rejected.id, 'p/0/1');
  const same = [response(0, 1, 1), response(0, 2, 1)].map((r) => ({
    ...r,
    generation: { ...r.generation, text: 'same' },
  }));
  assert.deepEqual(selectPair(same, rule), { kind: 'drop', reason: 'below-margin' });
});

const pick = (decision: ReturnType<typeof selectPair>) =>
  decision.kind === 'pair' ? [decision.chosen.id, decision.rejected.id, decision.margin] : decision.reason;

test('max-random pairs the best with a reproducible draw among those at least the margin below it', () => {
  const rule: Pairing = { ...pairing, rule: 'max-random', margin: 2 };
  const responses = [response(0, 1, 1), response(0, 2, 9), response(1, 1, 5), response(1, 2, 8)];
  const drawn = new Set<string>();
  for (let seed = 0; seed < 20; seed++) {
    const decision = selectPair(responses, { ...rule, seed });
    assert.ok(decision.kind === 'pair');
    assert.equal(decision.chosen.id, 'p/0/2');
    assert.ok(['p/0/1', 'p/1/1'].includes(decision.rejected.id), 'p/1/2 is within the margin of the best');
    assert.deepEqual(pick(selectPair(responses, { ...rule, seed })), pick(decision), 'same seed, same draw');
    drawn.add(decision.rejected.id);
  }
  assert.equal(drawn.size, 2, 'the draw varies with the seed');
  assert.equal(pick(selectPair([response(0, 1, 8), response(0, 2, 9)], rule)), 'below-margin');
});

test('length-penalised max-min prefers the shorter of two equally good answers', () => {
  const rule: Pairing = { ...pairing, rule: 'length-penalised-max-min', lengthPenalty: 0.01, margin: 0.1 };
  const long = 'x'.repeat(400);
  const responses = [response(0, 1, 8, long), response(0, 2, 8, 'short'), response(1, 1, 7.5, 'mid answer')];
  // Plain max-min: the later refinement of the two 8s wins, and the 7.5 loses.
  assert.deepEqual(pick(selectPair(responses, pairing)), ['p/0/2', 'p/1/1', 0.5]);
  // Penalised: 8 - 4 = 4 for the long answer, which becomes the rejected one.
  const decision = selectPair(responses, rule);
  assert.ok(decision.kind === 'pair');
  assert.equal(decision.chosen.id, 'p/0/2');
  assert.equal(decision.rejected.id, 'p/0/1');
  assert.ok(Math.abs(decision.margin - (7.95 - 4)) < 1e-9);
});

test('ties: prefer the refinement, prefer the shorter, or drop the prompt', () => {
  const responses = [
    response(0, 1, 9, 'a long first answer'),
    response(0, 2, 9, 'short'),
    response(1, 1, 2, 'bad'),
    response(1, 2, 2, 'a much longer bad answer'),
  ];
  assert.deepEqual(pick(selectPair(responses, pairing)), ['p/0/2', 'p/1/1', 7]);
  assert.deepEqual(pick(selectPair(responses, { ...pairing, ties: 'prefer-shorter' })), [
    'p/0/2',
    'p/1/2',
    7,
  ]);
  assert.equal(pick(selectPair(responses, { ...pairing, ties: 'drop' })), 'tie');
  // Not a tie when best and worst are unique.
  assert.deepEqual(pick(selectPair(responses.slice(1, 3), { ...pairing, ties: 'drop' })), [
    'p/0/2',
    'p/1/1',
    7,
  ]);
});

test('pair rows carry the term weights; SFT rows are x -> y_w and c(x, y_l, z) -> y_w', () => {
  const decision = selectPair([response(0, 1, 2), response(0, 2, 9)], pairing);
  assert.ok(decision.kind === 'pair');
  const weighted = { ...pairing, weights: { direct: 1, refinement: 0.5 } };
  assert.deepEqual(
    evolveRows('Q', decision, weighted, refinement).map((r) => [r.kind, r.weight]),
    [
      ['direct', 1],
      ['refinement', 0.5],
    ],
  );
  const sft = sftRows('Q', decision, refinement);
  assert.deepEqual(
    sft.map((r) => [r.kind, r.prompt.length, r.completion]),
    [
      ['direct', 1, [{ role: 'assistant', content: 'answer 0.2' }]],
      ['refinement', 3, [{ role: 'assistant', content: 'answer 0.2' }]],
    ],
  );
  assert.equal(sft[1]!.prompt[1]!.content, 'answer 0.1', 'the refinement context holds the rejected answer');
});

test('NaN scores count as unjudged, never as a score', () => {
  assert.equal(pick(selectPair([response(0, 1, NaN), response(0, 2, 3)], pairing)), 'single-response');
});

test('SRPO rows: one per triple, with c(x, y_l, z) from its refinement row and c(x, y_w, z) rebuilt alike', () => {
  const decision = selectPair([response(0, 1, 2), response(0, 2, 9)], pairing);
  assert.ok(decision.kind === 'pair');
  for (const template of ['multi-turn', 'single-turn'] as const) {
    const z = { template, instruction: 'Improve it.' };
    const [row, ...rest] = srpoRows(evolveRows('What is 2+2?', decision, pairing, z));
    assert.equal(rest.length, 0);
    assert.deepEqual(row!.prompt, [{ role: 'user', content: 'What is 2+2?' }]);
    assert.deepEqual(row!.revise_rejected, refinementContext('What is 2+2?', 'answer 0.1', z));
    assert.deepEqual(row!.revise_chosen, refinementContext('What is 2+2?', 'answer 0.2', z));
    assert.deepEqual(row!.chosen, [{ role: 'assistant', content: 'answer 0.2' }]);
  }
  const direct = evolveRows('What is 2+2?', decision, { ...pairing, refinementPairs: false }, refinement);
  assert.throws(() => srpoRows(direct), /prompt p: SRPO needs its refinement row .* which is missing/);
});
