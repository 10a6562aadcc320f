import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfigFile } from '../../client/config-file.js';
import { parseRunConfig } from '../../core/config.js';
import type { GenerationRecord, ScoreRecord } from '../../core/records.js';
import {
  evaluationStrategy,
  resolveStrategy,
  selectAnswer,
  trainingStrategy,
  type ScoredGeneration,
} from '../../core/strategies.js';
import { seedFor, templateHash } from '../../core/templates.js';

function scored(chain: number, step: number, score: number | null): ScoredGeneration {
  const id = `p/${chain}/${step}`;
  const generation = { id, promptId: 'p', chain, step, text: `answer ${chain}.${step}` } as GenerationRecord;
  const base = { generationId: id, promptId: 'p', chain, step, judge: 'llm', extracted: null, raw: null };
  const judged: ScoreRecord =
    score === null ? { ...base, status: 'unparseable', score: null } : { ...base, status: 'ok', score };
  return { generation, score: judged };
}
const keptId = (responses: ScoredGeneration[], keep: 'last' | 'best', round: number) =>
  selectAnswer(responses, keep, round)?.generation.id ?? null;

test('each strategy resolves to its trajectory shape, ignoring the knob it does not use', () => {
  const shapes = (['direct', 'parallel', 'chain', 'parallel-refine', 'tree'] as const).map((name) => {
    const s = resolveStrategy(name, 4, 3);
    return `${s.name} N=${s.samples} K=${s.depth} keep=${s.keep}`;
  });
  assert.deepEqual(shapes, [
    'direct N=1 K=1 keep=last',
    'parallel N=4 K=1 keep=last',
    'chain N=1 K=3 keep=last',
    'parallel-refine N=4 K=2 keep=last',
    'tree N=4 K=3 keep=best',
  ]);
  assert.equal(resolveStrategy('chain', 1, 3, 'best').keep, 'best');
});

test('configs without strategy keys keep the shapes they had: a tree for training, one chain for evaluation', () => {
  assert.deepEqual(
    trainingStrategy({ samples: 2, chainDepth: 3, temperature: 1, topP: 1, maxTokens: 8, seed: 0 }),
    {
      name: 'tree',
      samples: 2,
      depth: 3,
      keep: 'best',
    },
  );
  const demo = loadConfigFile('deploy/demo/config.yaml');
  const legacy = { prompts: demo.evaluation.prompts, refineRounds: 2, temperature: 0 };
  assert.deepEqual(evaluationStrategy(legacy), { name: 'chain', samples: 1, depth: 3, keep: 'last' });
  assert.deepEqual(evaluationStrategy(demo.evaluation), {
    name: 'chain',
    samples: 1,
    depth: 2,
    keep: 'last',
  });
});

test('best-of-N keeps the highest-scored answer; ties go to the lower chain', () => {
  const answers = [scored(0, 1, 3), scored(1, 1, 8), scored(2, 1, 8), scored(3, 1, null)];
  assert.equal(keptId(answers, 'last', 0), 'p/1/1');
  assert.equal(keptId([scored(0, 1, null)], 'last', 0), null, 'an unjudged answer is never kept');
});

test('a chain keeps its latest response (last) or its best so far (best), per round', () => {
  const chain = [scored(0, 1, 7), scored(0, 2, 2), scored(0, 3, 5)];
  assert.deepEqual(
    [0, 1, 2].map((r) => keptId(chain, 'last', r)),
    ['p/0/1', 'p/0/2', 'p/0/3'],
  );
  assert.deepEqual(
    [0, 1, 2].map((r) => keptId(chain, 'best', r)),
    ['p/0/1', 'p/0/1', 'p/0/1'],
  );
  // On equal scores the later refinement is kept.
  assert.equal(keptId([scored(0, 1, 7), scored(0, 2, 7)], 'best', 1), 'p/0/2');
  // An unjudged latest response leaves the round without an answer under `last`.
  assert.equal(keptId([scored(0, 1, 7), scored(0, 2, null)], 'last', 1), null);
});

test('a tree keeps the best response of any chain and step; parallel-refine the best refined answer', () => {
  const tree = [scored(0, 1, 1), scored(0, 2, 4), scored(1, 1, 6), scored(1, 2, 3)];
  assert.deepEqual(
    [0, 1].map((r) => keptId(tree, 'best', r)),
    ['p/1/1', 'p/1/1'],
  );
  assert.deepEqual(
    [0, 1].map((r) => keptId(tree, 'last', r)),
    ['p/1/1', 'p/0/2'],
  );
});

test('parallel evaluation at temperature 0 is refused, naming the key', () => {
  const demo = loadConfigFile('deploy/demo/config.yaml');
  assert.throws(
    () => parseRunConfig({ ...demo, evaluation: { ...demo.evaluation, strategy: 'parallel', samples: 4 } }),
    /evaluation\.temperature: parallel samples at temperature 0 are all the same answer/,
  );
  const ok = parseRunConfig({
    ...demo,
    evaluation: { ...demo.evaluation, strategy: 'parallel', samples: 4, temperature: 0.7 },
  });
  assert.equal(ok.evaluation.strategy, 'parallel');
});

test('the template hash follows the rendered template: variant, instruction and wording', () => {
  const multi = { template: 'multi-turn', instruction: 'Improve it.' } as const;
  const hashes = new Set([
    templateHash(multi),
    templateHash({ ...multi, template: 'single-turn' }),
    templateHash({ ...multi, instruction: 'Improve it!' }),
  ]);
  assert.equal(hashes.size, 3);
  assert.equal(templateHash({ ...multi }), templateHash(multi), 'stable for the same content');
});

test('the chains of one prompt get independent seeds, down to the low bit', () => {
  const prompts = Array.from({ length: 200 }, (_, i) => `p${i}`);
  const seeds = prompts.map((p) => [0, 1, 2].map((chain) => seedFor(7, p, chain, 1)));
  assert.equal(new Set(seeds.flat()).size, 600, 'distinct');
  // With independent bits about a quarter of the prompts get three seeds of one parity.
  const sameParity = seeds.filter((s) => new Set(s.map((x) => x % 2)).size === 1).length;
  assert.ok(sameParity > 20 && sameParity < 80, `${sameParity} of 200 prompts`);
});

test('a data-collection strategy that leaves nothing to pair is refused, naming the key', () => {
  const demo = loadConfigFile('deploy/demo/config.yaml');
  assert.throws(
    () => parseRunConfig({ ...demo, sampling: { ...demo.sampling, strategy: 'direct' } }),
    /sampling\.strategy: direct with samples 2 and chainDepth 2 collects one response per prompt/,
  );
  assert.throws(
    () =>
      parseRunConfig({
        ...demo,
        sampling: { ...demo.sampling, strategy: 'parallel' },
        pairing: { ...demo.pairing, rule: 'last-vs-first' },
      }),
    /pairing\.rule: last-vs-first pairs a refinement with its first answer, and sampling\.strategy parallel/,
  );
  assert.equal(
    parseRunConfig({ ...demo, sampling: { ...demo.sampling, strategy: 'parallel' } }).sampling.strategy,
    'parallel',
  );
});
