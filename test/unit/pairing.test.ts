import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Pairing, Refinement } from '../../core/config.js';
import { evolveRows, selectPair } from '../../core/pairing.js';
import type { ScoredGeneration } from '../../core/strategies.js';
import { templateHash } from '../../core/templates.js';
import type { GenerationRecord } from '../../core/records.js';

const pairing: Pairing = { rule: 'max-min', margin: 0.5, refinementPairs: true };
const refinement: Refinement = { template: 'multi-turn', instruction: 'Improve it.' };

function response(chain: number, step: number, score: number | null): ScoredGeneration {
  const id = `p/${chain}/${step}`;
  const generation = { id, promptId: 'p', chain, step, text: `answer ${chain}.${step}` } as GenerationRecord;
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
