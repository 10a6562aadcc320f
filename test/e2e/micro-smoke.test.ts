import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { runExperiment } from '../../client/experiment.js';
import type { ExperimentResults } from '../../core/experiment-results.js';
import { connectClient } from '../../client/run.js';
import { PairRecordSchema } from '../../core/records.js';
import { stackTemporal } from '../../deploy/stack.js';
import { usePrivateStack } from '../support/private-stack.js';
import { scratchDir } from '../support/scratch.js';

// `npm run experiment:micro -- --smoke` end to end on the real embedded stack (Temporal dev server,
// `transformers serve` with SmolLM2-135M, a worker, `trl sft` and `trl dpo` on CPU): stage 0 once, then
// both arms, iteration 0 and 1.
// Ports from the OS and ids of its own, so that it never meets another stack on this machine.
const stamp = randomBytes(4).toString('hex');
const log = (line: string) => console.log(`# ${line}`);
const settings = await usePrivateStack('micro', `micro-smoke-${stamp}`, log);

test('the micro-reproduction smoke runs stage 0 once, then both arms through iteration 0 and 1, and writes its results', async (t) => {
  const root = scratchDir('evolve-micro-', t);
  const outDir = join(root, 'out');
  const client = await connectClient(stackTemporal(settings));
  try {
    const results = await runExperiment(
      client,
      settings,
      { smoke: true, split: 'test', stamp, outDir, artifactRoot: join(root, 'artifacts') },
      log,
    );
    const written = JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')) as ExperimentResults;
    assert.deepEqual(written, results);
    assert.deepEqual(
      results.arms.map((a) => [a.arm, a.runId]),
      [
        ['evolve', `micro-evolve-smoke-${stamp}`],
        ['iterative-dpo', `micro-iterative-dpo-smoke-${stamp}`],
      ],
    );
    for (const arm of results.arms) {
      assert.deepEqual(
        arm.iterations.map((it) => it.iteration),
        [0, 1],
        `${arm.arm}: iteration 0 is evaluated before iteration 1 trains`,
      );
      for (const it of arm.iterations) {
        assert.deepEqual(
          it.metrics.map((m) => [m.metric, m.prompts]),
          [
            ['direct', 2],
            ['refine@1', 2],
          ],
          'the questions ask for direct and refine@1 only (evaluation.refineRounds 1)',
        );
        for (const m of it.metrics) assert.ok(m.ci95.low <= m.accuracy && m.accuracy <= m.ci95.high);
      }
      const trained = arm.iterations[1]!;
      assert.ok(trained.pairs! > 0, `${arm.arm}: iteration 1 trained on pairs`);
      assert.ok(trained.stepSeconds.train! > 0, `${arm.arm}: iteration 1 ran the trainer`);
    }
    // Stage 0 ran once: both arms' iteration 1 trained the same pi_1, and the ablation has pi_1 - base.
    const stage0 = results.stage0!;
    assert.ok(stage0.rows > 0 && stage0.seconds > 0, JSON.stringify(stage0));
    const parentOf = (runId: string) => {
      const dir = join(root, 'artifacts', runId, 'iter-1', 'train', 'checkpoint');
      const job = readdirSync(dir).find((f) => existsSync(join(dir, f, 'checkpoint.json')))!;
      return (JSON.parse(readFileSync(join(dir, job, 'checkpoint.json'), 'utf8')) as { parent: string })
        .parent;
    };
    const [evolve, dpo] = results.arms;
    assert.equal(parentOf(evolve!.runId), resolve(stage0.checkpoint));
    assert.equal(parentOf(dpo!.runId), resolve(stage0.checkpoint));
    assert.deepEqual(
      stage0.ablation.map((c) => [c.iteration, c.metric]),
      [
        [0, 'direct'],
        [0, 'refine@1'],
      ],
    );
    assert.deepEqual(
      stage0.base.map((m) => [m.metric, m.prompts]),
      [
        ['direct', 2],
        ['refine@1', 2],
      ],
    );
    // Iteration 0 is pi_1, greedy, on the same problems in both arms: no paired difference.
    assert.deepEqual(evolve!.iterations[0]!.metrics, dpo!.iterations[0]!.metrics);
    assert.deepEqual(
      results.comparisons.filter((c) => c.iteration === 0).map((c) => [c.estimate, c.low, c.high]),
      [
        [0, 0, 0],
        [0, 0, 0],
      ],
    );
    for (const arm of results.arms) {
      const trained = arm.iterations[1]!;
      assert.ok(trained.optimizerSteps! >= 1, `${arm.arm}: optimizer steps`);
      assert.ok(
        trained.truncated && trained.truncated.trainerRows !== null,
        `${arm.arm}: truncation counted`,
      );
      const d = trained.paired['refine@1-direct'];
      assert.ok(d.low <= d.estimate && d.estimate <= d.high);
    }
    // Independent samples hold no refinement: a refinement can win only under EVOLVE.
    assert.equal(dpo!.iterations[1]!.refinementWins, 0);

    // What each arm trained on: EVOLVE a refinement row per direct row, Iterative DPO direct rows only.
    const pairKinds = (runId: string) => {
      const dir = join(root, 'artifacts', runId, 'iter-1', 'train', 'pairs');
      return readFileSync(
        join(
          dir,
          readdirSync(dir).find((f) => f === 'pairs.jsonl')!,
        ),
        'utf8',
      )
        .trim()
        .split('\n')
        .map((l) => PairRecordSchema.parse(JSON.parse(l)).kind);
    };
    const evolveKinds = pairKinds(evolve!.runId);
    assert.equal(evolveKinds.filter((k) => k === 'refinement').length, evolve!.iterations[1]!.pairs);
    assert.deepEqual(new Set(pairKinds(dpo!.runId)), new Set(['direct']));

    const table = readFileSync(join(outDir, 'results.md'), 'utf8');
    assert.match(table, /\| evolve \| 1 \|/);
    assert.match(table, /\| iterative-dpo \| 1 \|/);
    assert.ok(readFileSync(join(outDir, 'charts', 'accuracy.svg'), 'utf8').startsWith('<svg'));

    // The same command again (its client died, say): it attaches to both runs, starts nothing, and
    // serves them on the same ports as before.
    const ports = readFileSync(join(outDir, 'servers.json'), 'utf8');
    const said: string[] = [];
    const again = await runExperiment(
      client,
      settings,
      { smoke: true, split: 'test', stamp, outDir, artifactRoot: join(root, 'artifacts') },
      (line) => said.push(line),
    );
    assert.deepEqual(
      again.arms.map((a) => a.iterations),
      results.arms.map((a) => a.iterations),
    );
    assert.deepEqual(said.filter((l) => /attached to run|started run/.test(l)).sort(), [
      `base: attached to run micro-base-smoke-${stamp} (COMPLETED)`,
      `evolve: attached to run micro-evolve-smoke-${stamp} (COMPLETED)`,
      `iterative-dpo: attached to run micro-iterative-dpo-smoke-${stamp} (COMPLETED)`,
      `stage 0: attached to run micro-stage0-smoke-${stamp} (COMPLETED)`,
    ]);
    assert.ok(!said.some((l) => l.includes('demonstrations')), 'the demonstrations are written once');
    assert.equal(readFileSync(join(outDir, 'servers.json'), 'utf8'), ports);
    // The wall time is the runs' own span, not the attaching command's wait.
    assert.ok(results.wallSeconds > 10, `wall ${results.wallSeconds} s`);
    assert.ok(Math.abs(again.wallSeconds - results.wallSeconds) < 1, `${again.wallSeconds} s again`);
    // Who used the cores: the servers and trainers the runs started count as the experiment's.
    assert.ok(results.load, 'results.json records the load');
    assert.ok(results.load.cpuSeconds.experiment > 1, JSON.stringify(results.load));
  } finally {
    await client.connection.close();
  }
});
