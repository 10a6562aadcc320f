import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { headToHead, lengthControlledWinRate, sampleStd } from '../../core/metrics/alpaca-eval.js';
import { arenaHardScores, battlesOf, parseVerdict, type Judgment } from '../../core/metrics/arena-hard.js';
import { bootstrap, percentile } from '../../core/metrics/bootstrap.js';
import { mulberry32 as seededRandom } from '../../core/random.js';
import { expectedWinRate, fitBradleyTerry, type Battle } from '../../core/metrics/bradley-terry.js';

const close = (actual: number, expected: number, tolerance: number, what = '') =>
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${what} ${actual} is not within ${tolerance} of ${expected}`,
  );

test('AlpacaEval head-to-head: win rate, SEM (ddof 1), counts, draws at 1.5 and 0', () => {
  const h = headToHead([2, 1, 1.5, 1.75, 0, null]);
  // shifted: 1, 0, .5, .75, .5 (0 is the legacy draw); null is dropped.
  close(h.winRate, 55, 1e-12);
  close(h.standardError, (100 * sampleStd([1, 0, 0.5, 0.75, 0.5])) / Math.sqrt(5), 1e-12);
  assert.deepEqual([h.nWins, h.nWinsBase, h.nDraws, h.nTotal], [2, 1, 2, 5]);
  close(h.discreteWinRate, 60, 1e-12); // 1, 0, .5, 1, .5
});

// Published leaderboard rows (tatsu-lab/alpaca_eval, see test/fixtures/official/README.md): preferences
// with the published counts give the published discrete win rate, to all its digits.
test('AlpacaEval discrete win rate equals the published leaderboard for 6 models', () => {
  const csv = readFileSync('test/fixtures/official/alpaca_eval_leaderboard_excerpt.csv', 'utf8')
    .trim()
    .split('\n');
  for (const line of csv.slice(1)) {
    const [model, , , wins, losses, draws, total, discrete] = line.split(',');
    const prefs = [
      ...Array<number>(Number(wins)).fill(1.9),
      ...Array<number>(Number(losses)).fill(1.1),
      ...Array<number>(Number(draws)).fill(1.5),
    ];
    const h = headToHead(prefs);
    assert.equal(h.nTotal, Number(total), model);
    close(h.discreteWinRate, Number(discrete), 1e-9, model);
  }
});

test('length-controlled win rate: recovers a known GLM and removes a pure length effect', () => {
  const random = seededRandom(7);
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
  const rows = Array.from({ length: 4000 }, () => {
    const difficulty = random() * 2 - 1;
    const modelLength = 1500 + random() * 4000;
    const referenceLength = 2000;
    return { difficulty, modelLength, referenceLength };
  });
  const std = sampleStd(rows.map((r) => r.referenceLength - r.modelLength));
  const truth = { length: -1.2, difficulty: 0.8, model: -0.4 };
  const withPrefs = rows.map((r) => ({
    ...r,
    // Fractional preferences, as the weighted annotator gives.
    preference:
      1 +
      sigmoid(
        truth.length * Math.tanh((r.referenceLength - r.modelLength) / std) +
          truth.difficulty * r.difficulty +
          truth.model,
      ),
  }));
  const lc = lengthControlledWinRate(withPrefs);
  close(lc.weights.length, truth.length, 1e-6, 'length weight');
  close(lc.weights.difficulty, truth.difficulty, 1e-6, 'difficulty weight');
  close(lc.weights.model, truth.model, 1e-6, 'model weight');
  const expected =
    (100 * rows.reduce((s, r) => s + sigmoid(truth.model + truth.difficulty * r.difficulty), 0)) /
    rows.length;
  close(lc.lengthControlledWinRate, expected, 1e-6, 'LC');
  // The raw win rate is pulled up by the longer answers; LC is not.
  assert.ok(headToHead(withPrefs.map((r) => r.preference)).winRate > lc.lengthControlledWinRate + 3);
});

test('Arena-Hard verdict labels: one consistent [[label]] or nothing', () => {
  assert.equal(parseVerdict('... My final verdict is: [[B>>A]].'), 'B>>A');
  assert.equal(parseVerdict('[[A>B]] then again [[A>B]]'), 'A>B');
  assert.equal(parseVerdict('[[A>B]] or maybe [[B>A]]'), null);
  assert.equal(parseVerdict('no verdict'), null);
});

test('Arena-Hard battles: positions swapped in game 2, strong verdicts weigh 3', () => {
  const j: Judgment = { questionId: 'q', model: 'm', games: ['B>>A', 'A>B'] };
  assert.deepEqual(battlesOf(j, 'base'), [
    { modelA: 'base', modelB: 'm', winner: 'b', weight: 3 },
    { modelA: 'base', modelB: 'm', winner: 'b', weight: 1 },
  ]);
  const k: Judgment = { questionId: 'q', model: 'm', games: ['A=B', null] };
  assert.deepEqual(battlesOf(k, 'base'), [{ modelA: 'base', modelB: 'm', winner: 'tie', weight: 1 }]);
});

test('Bradley-Terry: one baseline gives (wins + ties/2) / games; many models satisfy the MLE equations', () => {
  const judgments: Judgment[] = [];
  const verdicts = ['A>>B', 'A>B', 'A=B', 'B>A', 'B>>A'] as const;
  const random = seededRandom(3);
  for (const model of ['m1', 'm2', 'm3'])
    for (let q = 0; q < 200; q++)
      judgments.push({
        questionId: `q${q}`,
        model,
        games: [verdicts[Math.floor(random() * 5)]!, verdicts[Math.floor(random() * 5)]!],
      });
  const rows = arenaHardScores(judgments, { baseline: 'base', rounds: 50, seed: 1 });
  for (const r of rows) {
    const total = r.wins + r.losses + r.ties;
    close(r.score, (100 * (r.wins + r.ties / 2)) / total, 1e-6, r.model);
    assert.ok(r.lower <= r.score && r.score <= r.upper, `${r.model} interval ${r.lower}..${r.upper}`);
  }
  // Same seed, same interval.
  assert.deepEqual(arenaHardScores(judgments, { baseline: 'base', rounds: 50, seed: 1 }), rows);

  // A round robin: at the maximum, each model's expected wins equal its observed wins.
  const battles: Battle[] = [];
  const strength: Record<string, number> = { a: 0, b: 1, c: 2 };
  for (let i = 0; i < 3000; i++) {
    const [x, y] = [
      ['a', 'b'],
      ['b', 'c'],
      ['a', 'c'],
    ][i % 3]!;
    const p = 1 / (1 + Math.exp(strength[x!]! - strength[y!]!));
    const u = random();
    battles.push({
      modelA: x!,
      modelB: y!,
      winner: u < 0.1 ? 'tie' : u < 0.1 + 0.9 * (1 - p) ? 'a' : 'b',
      weight: 1 + (i % 2),
    });
  }
  const ratings = fitBradleyTerry(battles, 'a');
  assert.equal(ratings.get('a'), 1000);
  for (const model of ['a', 'b', 'c']) {
    let observed = 0;
    let expected = 0;
    for (const b of battles) {
      const side = b.modelA === model ? 'a' : b.modelB === model ? 'b' : null;
      if (!side) continue;
      const other = side === 'a' ? b.modelB : b.modelA;
      observed += b.weight * (b.winner === 'tie' ? 0.5 : b.winner === side ? 1 : 0);
      expected += b.weight * expectedWinRate(ratings.get(model)!, ratings.get(other)!);
    }
    close(expected, observed, 1e-6, `MLE equation for ${model}`);
  }
});

test('bootstrap: seeded, reproducible; percentile interpolates like numpy', () => {
  const items = [1, 2, 3, 4, 5];
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.deepEqual(bootstrap(items, 20, 9, mean), bootstrap(items, 20, 9, mean));
  assert.notDeepEqual(bootstrap(items, 20, 9, mean), bootstrap(items, 20, 10, mean));
  assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
  close(percentile([10, 0, 20], 2.5), 0.5, 1e-12);
});
