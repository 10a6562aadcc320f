import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { DataError } from '../../storage/files.js';
import { PairRecordSchema } from '../../core/records.js';
import { parseTrainerMetrics } from '../../core/trainer-log.js';
import { renderCharts } from '../../report/charts.js';
import { writeReport } from '../../report/index.js';
import { formatValue, metricRows, type MetricRow } from '../../report/metrics.js';
import { readRun } from '../../report/read.js';
import { metricsTable } from '../../report/table.js';
import { copyDemoRun, demoRun } from '../support/run-fixture.js';

const iter1 = join(demoRun, 'iter-1');
const jobDir = join(iter1, 'train', 'checkpoint', 'demo-20261125-163224-iter1-dpo-a8ff0dcdafaefce3');
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const jsonl = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
const row = (rows: MetricRow[], set: string, metric: string) => {
  const found = rows.find((r) => r.set.startsWith(set) && r.metric === metric);
  assert.ok(found, `no metric "${metric}" in set ${set}`);
  return found;
};

test('eval accuracy and gain equal evaluation.json, with the judge and extractors of those responses', async () => {
  const rows = metricRows(await readRun(demoRun));
  const evaluation = json(join(iter1, 'eval', 'evaluation.json'));
  const direct = row(rows, 'eval', 'accuracy direct');
  const refined = row(rows, 'eval', 'accuracy refine@1');
  assert.equal(direct.value, evaluation.accuracy[0]);
  assert.equal(refined.value, evaluation.accuracy[1]);
  assert.equal(direct.n, evaluation.prompts);
  assert.equal(
    row(rows, 'eval', 'gain refine@1 vs direct').value,
    evaluation.accuracy[1] - evaluation.accuracy[0],
  );
  // The first chain's responses at each round, as the judge shards record them.
  const scores = [0, 1].flatMap((s) => jsonl(join(iter1, 'eval', 'judge', `shard-${s}.jsonl`)));
  const extractors = (step: number) =>
    scores.filter((s) => s.chain === 0 && s.step === step).map((s) => s.judge.split(':')[2]);
  assert.equal(direct.judge, 'verifier:numeric');
  assert.equal(direct.extractor, 'flexible 9, strict 1');
  assert.equal(extractors(1).filter((e) => e === 'flexible').length, 9);
  assert.equal(refined.extractor, `flexible ${extractors(2).length}`);
  assert.equal(row(rows, 'eval', 'accuracy direct').source, 'iter-1/eval/evaluation.json');
});

test('mean rewards per response round and judge equal the training judge rows', async () => {
  const rows = metricRows(await readRun(demoRun));
  const scores = [0, 1].flatMap((s) => jsonl(join(iter1, 'train', 'judge', `shard-${s}.jsonl`)));
  for (const [step, label] of [
    [1, 'direct'],
    [2, 'refine@1'],
  ] as const) {
    const verified = scores.filter((s) => s.step === step && s.judge.startsWith('verifier:'));
    const r = rows.find(
      (x) =>
        x.set.startsWith('train') && x.metric === `mean reward ${label}` && x.judge === 'verifier:numeric',
    )!;
    assert.equal(r.n, verified.length);
    assert.equal(r.value, verified.reduce((a, s) => a + s.score, 0) / verified.length);
    // Every LLM-judge reply of the demo was unparseable: no mean, and the table says why.
    const llm = rows.find(
      (x) => x.metric === `mean reward ${label}` && x.judge.startsWith('llm:pointwise:'),
    )!;
    assert.equal(llm.value, null);
    assert.equal(
      llm.extractor,
      `unparseable ${scores.filter((s) => s.step === step && s.status !== 'ok').length}`,
    );
  }
  assert.equal(row(rows, 'train', 'mean reward direct').source, 'iter-1/train/judge');
});

test('pair statistics are the pairs manifest stats; trainer metrics are the trainer log values', async () => {
  const rows = metricRows(await readRun(demoRun));
  const stats = json(join(iter1, 'train', 'pairs', 'pairs.jsonl.manifest.json')).stats;
  const pairRows = rows.filter((r) => r.set.startsWith('pairs'));
  assert.deepEqual(Object.fromEntries(pairRows.map((r) => [r.metric, r.value])), stats);
  const trainer = parseTrainerMetrics(readFileSync(join(jobDir, 'train.log'), 'utf8'));
  assert.equal(row(rows, 'trainer (finished)', 'loss first step').value, trainer.firstLoss);
  assert.equal(row(rows, 'trainer', 'loss last step').value, trainer.loss);
  assert.equal(row(rows, 'trainer', 'train_loss').value, trainer.train_loss);
  assert.equal(row(rows, 'trainer', 'rewards/margins last step').value, trainer['rewards/margins']);
  assert.equal(row(rows, 'trainer', 'loss last step').n, 5);
});

test('the terminal table shows every metric row with its value, judge and extractor', async () => {
  const rows = metricRows(await readRun(demoRun));
  const lines = metricsTable(rows).split('\n');
  assert.equal(lines.length, rows.length + 1);
  assert.match(lines[0]!, /^iter\s+set\s+metric\s+value\s+n\s+judge\s+extractor$/);
  rows.forEach((r, i) => {
    for (const cell of [r.metric, formatValue(r), r.judge, r.extractor])
      assert.ok(lines[i + 1]!.includes(cell));
  });
  assert.ok(
    lines.some((l) => /accuracy direct\s+60\.0%\s+10\s+verifier:numeric\s+flexible 9, strict 1/.test(l)),
  );
  assert.ok(lines.some((l) => /gain refine@1 vs direct\s+\+10\.0 pp/.test(l)));
});

test('a run still in its second iteration reports what exists and says what is pending', async (t) => {
  const dir = copyDemoRun();
  t.after(() => rmSync(dirname(dir), { recursive: true, force: true }));
  const config = json(join(dir, 'config.json'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, iterations: 2 }));
  mkdirSync(join(dir, 'iter-2', 'train', 'judge'), { recursive: true });
  // A shard being judged: a journal, no manifest yet.
  writeFileSync(join(dir, 'iter-2', 'train', 'judge', 'shard-0.jsonl.journal'), '{"torn":');
  const run = await readRun(dir);
  assert.deepEqual(
    run.iterations.map((it) => it.iteration),
    [1, 2],
  );
  const [, second] = run.iterations;
  assert.deepEqual(second, { ...second, trainScores: [], pairs: null, training: null, evaluation: null });
  assert.ok(metricRows(run).every((r) => r.iteration === 1));
  const { html } = await writeReport({
    runDir: dir,
    outDir: join(dir, 'report'),
    workflowUrl: () => 'http://ui',
  });
  const page = readFileSync(html, 'utf8');
  assert.match(page, /1 of 2 iteration\(s\) evaluated/);
  assert.match(page, /iteration 2\/2: started/);
});

test('an iteration whose trainer is still running: charts without data say why, the rest render', async (t) => {
  const dir = copyDemoRun();
  t.after(() => rmSync(dirname(dir), { recursive: true, force: true }));
  rmSync(join(dir, 'iter-1', 'eval', 'evaluation.json'));
  rmSync(
    join(
      dir,
      'iter-1',
      'train',
      'checkpoint',
      'demo-20261125-163224-iter1-dpo-a8ff0dcdafaefce3',
      'exit_code',
    ),
  );
  const run = await readRun(dir);
  assert.equal(run.iterations[0]!.training!.state, 'running');
  const charts = await renderCharts(run);
  const byId = Object.fromEntries(charts.map((c) => [c.id, c]));
  assert.equal(byId.accuracy!.svg, null);
  assert.equal(byId.gain!.svg, null);
  for (const id of ['rewards', 'pairs', 'training']) assert.match(byId[id]!.svg ?? '', /role-mark/);
  const { html, charts: files } = await writeReport({
    runDir: dir,
    outDir: join(dir, 'report'),
    workflowUrl: () => 'http://ui',
  });
  assert.equal(files.length, 3);
  assert.match(readFileSync(html, 'utf8'), /Not available yet: no iteration has finished its evaluation yet/);
  assert.ok(metricRows(run).some((r) => r.set === 'trainer (running)'));
});

test('corrupt or missing artifacts: the error names the file, and the line for JSONL', async (t) => {
  const dir = copyDemoRun();
  t.after(() => rmSync(dirname(dir), { recursive: true, force: true }));
  const fails = async (pattern: RegExp) =>
    assert.rejects(readRun(dir), (err: Error) => err instanceof DataError && pattern.test(err.message));

  const shard = join(dir, 'iter-1', 'train', 'judge', 'shard-1.jsonl');
  const good = readFileSync(shard, 'utf8');
  const lines = good.split('\n');
  lines[2] = lines[2]!.replace('"score":', '"score":"high","was":');
  writeFileSync(shard, lines.join('\n'));
  await fails(/shard-1\.jsonl:3/);
  writeFileSync(shard, good.split('\n').slice(1).join('\n'));
  await fails(/shard-1\.jsonl: has \d+ rows, its manifest says \d+/);
  rmSync(shard);
  await fails(/shard-1\.jsonl: missing \(its manifest exists\)/);
  writeFileSync(shard, good);

  const evaluation = join(dir, 'iter-1', 'eval', 'evaluation.json');
  writeFileSync(evaluation, '{"prompts": 10, "accuracy": [0.6,');
  await fails(/evaluation\.json: not valid JSON/);
  writeFileSync(evaluation, '{"prompts": 10, "accuracy": [1.6], "wallMs": 1}');
  await fails(/evaluation\.json is invalid:\n\s+accuracy\.0:/);
  rmSync(evaluation);

  writeFileSync(join(dir, 'config.json'), '{"runId": "demo"}');
  await fails(/config\.json is invalid:\n.*iterations: required/s);
  rmSync(join(dir, 'config.json'));
  await fails(/no evolve run at .*config\.json is missing/);
});

test('iteration 0 (the initial policy, evaluated only) is reported and starts the curves', async (t) => {
  const dir = copyDemoRun();
  t.after(() => rmSync(dirname(dir), { recursive: true, force: true }));
  // Iteration 0 writes only its evaluation: no training responses, pairs or trainer.
  mkdirSync(join(dir, 'iter-0', 'eval'), { recursive: true });
  const zero = { prompts: 10, accuracy: [0.2, 0.1], missing: [0, 0], wallMs: 5 };
  writeFileSync(join(dir, 'iter-0', 'eval', 'evaluation.json'), JSON.stringify(zero));
  const run = await readRun(dir);
  assert.deepEqual(
    run.iterations.map((it) => it.iteration),
    [0, 1],
  );
  const rows = metricRows(run).filter((r) => r.iteration === 0);
  assert.deepEqual(
    rows.map((r) => [r.metric, r.value]),
    [
      ['accuracy direct', 0.2],
      ['accuracy refine@1', 0.1],
      ['gain refine@1 vs direct', 0.1 - 0.2],
    ],
  );
  const { html } = await writeReport({ runDir: dir, outDir: join(dir, 'report'), workflowUrl: () => 'u' });
  const page = readFileSync(html, 'utf8');
  assert.match(page, /1 of 1 iteration\(s\) evaluated\. The initial policy is evaluated as iteration 0\./);
  assert.match(page, /iteration 0 \(the initial policy\): evaluated on 10 prompts/);
  // The accuracy curve's x axis starts at iteration 0.
  const accuracy = (await renderCharts(run)).find((c) => c.id === 'accuracy')!;
  assert.match(accuracy.svg!, /aria-label="[^"]*iteration: 0; /);
});

test('generation quality counts each flag over the finished shards; example pairs are the first rows', async () => {
  const run = await readRun(demoRun);
  const it = run.iterations.find((i) => i.iteration === 1)!;
  const generations = ['sample', 'refine'].flatMap((step) =>
    [0, 1].flatMap((s) => jsonl(join(iter1, 'train', step, `shard-${s}.jsonl`))),
  ) as { flags: string[] }[];
  const train = it.quality.find((q) => q.phase === 'train')!;
  assert.equal(train.responses, generations.length);
  for (const flag of ['truncated', 'empty', 'unchanged', 'refused'] as const)
    assert.equal(train.flags[flag], generations.filter((g) => g.flags.includes(flag)).length, flag);
  assert.ok(train.flags.truncated > 0, 'the demo run has responses cut at maxTokens');
  const pairs = jsonl(join(iter1, 'train', 'pairs', 'pairs.jsonl'));
  assert.deepEqual(
    it.examplePairs,
    pairs.slice(0, 3).map((p) => PairRecordSchema.parse(p)),
  );
});

test('the report links to the run relatively, shows generation quality and example pairs', async (t) => {
  const dir = copyDemoRun();
  t.after(() => rmSync(dirname(dir), { recursive: true, force: true }));
  const { html } = await writeReport({ runDir: dir, outDir: join(dir, 'report'), workflowUrl: () => 'u' });
  const page = readFileSync(html, 'utf8');
  assert.doesNotMatch(page, /file:\/\//, 'no absolute file links');
  assert.match(page, /<a href="\.\.\/config\.json">config\.json<\/a>/);
  assert.match(page, /<a href="\.\.\/iter-1\/train\/pairs\/pairs\.jsonl">/);
  const run = await readRun(dir);
  const train = run.iterations.find((i) => i.iteration === 1)!.quality.find((q) => q.phase === 'train')!;
  const share = ((100 * train.flags.truncated) / train.responses).toFixed(1);
  assert.match(
    page,
    new RegExp(
      `<td>1</td><td>train</td><td>${train.responses}</td><td>${train.flags.truncated} \\(${share} %\\)</td>`,
    ),
  );
  const first = jsonl(join(dir, 'iter-1', 'train', 'pairs', 'pairs.jsonl'))[0] as { kind: string };
  assert.match(
    page,
    new RegExp(`<h2>Example pairs</h2>\\s*<h3>iteration 1</h3>.*<td>${first.kind}</td>`, 's'),
  );
});

test('a gain chart whose gains are all zero has readable ticks and shows the zero', async (t) => {
  const dir = copyDemoRun();
  t.after(() => rmSync(dirname(dir), { recursive: true, force: true }));
  const path = join(dir, 'iter-1', 'eval', 'evaluation.json');
  writeFileSync(path, JSON.stringify({ ...json(path), accuracy: [0.5, 0.5] }));
  const gain = (await renderCharts(await readRun(dir))).find((c) => c.id === 'gain')!;
  assert.doesNotMatch(gain.svg!, />[-+−]?0\.000000</, 'no tick labelled 0.000000');
  assert.match(gain.svg!, />\+0\.0</);
  // The bar has no height; its label is drawn as a mark, not only as an axis tick.
  assert.match(gain.svg!, /class="mark-text role-mark[^"]*"[^>]*>\s*<text[^>]*>\+0\.0<\/text>/);
});
