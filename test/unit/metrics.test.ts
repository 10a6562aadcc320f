import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { headToHead, lengthControlledWinRate, sampleStd } from '../../core/metrics/alpaca-eval.js';
import { parseVerdictLabel } from '../../core/judge-replies.js';
import { arenaHardScores, battlesOf, type Judgment } from '../../core/metrics/arena-hard.js';
import { bootstrap, percentile } from '../../core/metrics/bootstrap.js';
import { mulberry32 as seededRandom, NumpyRandomState } from '../../core/random.js';
import { readArenaHardJudgments } from '../../storage/benchmarks/official-results.js';
import { sharedFile } from '../support/paths.js';
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
  assert.equal(parseVerdictLabel('... My final verdict is: [[B>>A]].'), 'B>>A');
  assert.equal(parseVerdictLabel('[[A>B]] then again [[A>B]]'), 'A>B');
  assert.equal(parseVerdictLabel('[[A>B]] or maybe [[B>A]]'), null);
  assert.equal(parseVerdictLabel('no verdict'), null);
});

test('Arena-Hard battles: positions swapped in game 2, a strong verdict is three rows', () => {
  const j: Judgment = { questionId: 'q', model: 'm', games: ['B>>A', 'A>B'] };
  const win = { modelA: 'base', modelB: 'm', winner: 'b' };
  assert.deepEqual(battlesOf(j, 'base'), [win, win, win, win]);
  const k: Judgment = { questionId: 'q', model: 'm', games: ['A=B', null] };
  assert.deepEqual(battlesOf(k, 'base'), [{ modelA: 'base', modelB: 'm', winner: 'tie' }]);
  const l: Judgment = { questionId: 'q', model: 'm', games: ['A>>B', 'B>>A'] };
  assert.equal(battlesOf(l, 'base').filter((b) => b.winner === 'a').length, 6);
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
      observed += b.winner === 'tie' ? 0.5 : b.winner === side ? 1 : 0;
      expected += expectedWinRate(ratings.get(model)!, ratings.get(other)!);
    }
    close(expected, observed, 1e-6, `MLE equation for ${model}`);
  }
});

test('numpy legacy RandomState: np.random.seed(s) then randint draws the same integers as numpy 1.26', () => {
  // Known answers printed by numpy 1.26.4: np.random.seed(42); randint(0, 1469, 5); randint(0, 7, 5);
  // randint(0, 2**32, 3); randint(0, 1, 2); randint(0, 10**6, 3) -- one generator, in that order.
  const r = new NumpyRandomState(42);
  assert.deepEqual(r.randint(1469, 5), [1126, 1459, 860, 1294, 1130]);
  assert.deepEqual(r.randint(7, 5), [4, 4, 6, 1, 2]);
  assert.deepEqual(r.randint(2 ** 32, 3), [429389014, 249467210, 1972458954]);
  assert.deepEqual(r.randint(1, 2), [0, 0]);
  assert.deepEqual(r.randint(1_000_000, 3), [899159, 912756, 175203]);
  const s = new NumpyRandomState(7); // seed(7); randint(0, 2**32, 4, dtype=int64); randint(0, 5, 6)
  assert.deepEqual(s.randint(2 ** 32, 4), [327741615, 976413892, 3349725721, 1369975286]);
  assert.deepEqual(s.randint(5, 6), [3, 3, 4, 1, 0, 1]);
  assert.throws(() => new NumpyRandomState(-1), /integer seed/);
});

test('bootstrap: the rows pandas sample(frac=1, replace=True) picks after np.random.seed; percentile like numpy', () => {
  // pandas 2.2.2: np.random.seed(42); df.sample(frac=1.0, replace=True) twice on a 10-row frame.
  const items = Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual(
    bootstrap(items, 2, 42, (sample) => sample),
    [
      [6, 3, 7, 4, 6, 9, 2, 6, 7, 4],
      [3, 7, 7, 2, 5, 4, 1, 7, 5, 1],
    ],
  );
  assert.equal(percentile([1, 2, 3, 4], 50), 2.5);
  close(percentile([10, 0, 20], 2.5), 0.5, 1e-12);
  assert.ok(Number.isNaN(percentile([1, Number.NaN], 50)));
});

const { path: synthetic, skip } = sharedFile('arena-hard-v0.1/synthetic-judgments');
test(
  'Arena-Hard on the synthetic judgments: score, interval, rating and counts equal the official show_result.py',
  { skip },
  async () => {
    const official = JSON.parse(readFileSync(join(synthetic, 'official_show_result.json'), 'utf8')) as Record<
      string,
      Record<string, number>
    >;
    // The official run's glob listed the files y, x, z (of the six orders only this one reproduces its
    // interval); naming them in that order makes the test independent of this file system's listing.
    const dir = join(synthetic, 'model_judgment', 'gpt-4-1106-preview');
    const files = ['model-y', 'model-x', 'model-z'].map((m) => join(dir, `${m}.jsonl`));
    const judgments = await readArenaHardJudgments(files, 'gpt-4-0314');
    const rows = arenaHardScores(judgments, { baseline: 'gpt-4-0314', rounds: 100, seed: 42 });
    assert.deepEqual(
      rows.map((r) => r.model),
      Object.keys(official),
    );
    for (const r of rows) {
      const o = official[r.model]!;
      // The official fit stops at lbfgs tol 1e-8; this one at the exact maximum: ~4e-7 apart.
      for (const k of ['score', 'lower', 'upper'] as const) close(r[k], o[k]!, 1e-6, `${r.model} ${k}`);
      close(r.rating, o.rating!, 1e-4, `${r.model} rating`);
      assert.deepEqual(
        [r.wins + r.losses + r.ties, r.wins, r.losses, r.ties],
        [o.battle_rows, o.model_wins, o.baseline_wins, o.ties],
      );
    }
  },
);
