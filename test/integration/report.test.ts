import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromiumFor, dumpDom } from '../support/chromium.js';
import type { SuiteSummary } from '../../core/suites.js';
import { copyDemoRun, demoRun } from '../support/run-fixture.js';

const evolve = (...args: string[]) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', 'client/cli.ts', ...args], { timeout: 120_000 });

/**
 * Run in the page after load: how many of each chart's data marks (bars, points, lines) the browser laid
 * out with a non-empty box. The report itself has no scripts; this probe is added to a copy.
 */
const PROBE = `<script>
for (const figure of document.querySelectorAll('figure[data-chart]')) {
  const drawn = [...figure.querySelectorAll('svg g.role-mark > *')].filter((m) => {
    const box = m.getBBox();
    return box.width > 0 || box.height > 0;
  });
  figure.setAttribute('data-drawn-marks', String(drawn.length));
}
</script>`;

test('evolve report writes a report whose every chart renders its marks in headless Chromium', async (t) => {
  const chromium = chromiumFor(t);
  if (!chromium) return;
  const out = mkdtempSync(join(tmpdir(), 'evolve-report-out-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));

  const { stdout } = await evolve(
    'report',
    demoRun,
    '--out',
    out,
    '--ui-url',
    'http://temporal.example:8080/',
  );
  assert.match(stdout, /^iter\s+set\s+metric\s+value\s+n\s+judge\s+extractor$/m);
  assert.match(stdout, /accuracy refine@1\s+70\.0%\s+10\s+verifier:numeric\s+flexible 10/);
  assert.match(stdout, /report: .*report\.html \(5 charts\)/);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.ok(
    html.includes('href="http://temporal.example:8080/namespaces/default/workflows/demo-20261125-163224"'),
  );
  assert.ok(!html.includes('<script'), 'the report is static');
  assert.ok(!html.includes('Not available yet'));

  const drawn = await drawnMarks(chromium, html, out);
  // From the demo run: 2 eval rounds of 1 iteration; 1 gain bar and its label; score bars for 2 judges x 2 rounds
  // (the LLM judge only "unparseable", the verifier 0 and 1); 7 pair counts; 3 trainer series of 5 steps.
  assert.deepEqual(drawn, { accuracy: 2, gain: 1 + 1, rewards: 6, pairs: 7, training: 3 + 15 });
});

/** Marks each chart drew in headless Chromium, by chart id (the report plus the PROBE script). */
async function drawnMarks(chromium: string, html: string, out: string): Promise<Record<string, number>> {
  const probe = join(out, 'probe.html');
  writeFileSync(probe, html.replace('</body>', `${PROBE}</body>`));
  const dom = await dumpDom(chromium, pathToFileURL(probe).href);
  return Object.fromEntries(
    [...dom.matchAll(/<figure data-chart="(\w+)" data-drawn-marks="(\d+)"/g)].map((m) => [
      m[1],
      Number(m[2]),
    ]),
  );
}

test('a run with benchmark suites: the report plots each suite per iteration, direct vs refined', async (t) => {
  const chromium = chromiumFor(t);
  if (!chromium) return;
  const run = copyDemoRun();
  const out = mkdtempSync(join(tmpdir(), 'evolve-report-out-'));
  t.after(() => rmSync(dirname(run), { recursive: true, force: true }));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const endpoint = { baseUrl: 'http://127.0.0.1:9/v1' };
  const configPath = join(run, 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as { iterations: number; evaluation: object };
  config.iterations = 2;
  config.evaluation = {
    ...config.evaluation,
    suites: [
      { name: 'alpaca', kind: 'alpaca-eval', prompts: 'alpaca.json', judge: { endpoint } },
      {
        name: 'arena',
        kind: 'arena-hard',
        prompts: 'question.jsonl',
        baseline: 'gpt-4-0314.jsonl',
        judge: { endpoint, config: 'judge_config.yaml' },
      },
    ],
  };
  writeFileSync(configPath, JSON.stringify(config));
  // Two iterations of summaries as summarizeSuite writes them: direct and refine@1 each.
  const write = (
    iteration: number,
    summary: Omit<SuiteSummary, 'uri' | 'prompts' | 'judge' | 'strategy' | 'wallMs'>,
  ) => {
    const path = join(run, `iter-${iteration}`, `suite-${summary.name}`, 'summary.json');
    mkdirSync(dirname(path), { recursive: true });
    const full: SuiteSummary = {
      ...summary,
      uri: path,
      prompts: 20,
      judge: 'llm:judge',
      strategy: 'chain',
      wallMs: 3,
    };
    writeFileSync(path, JSON.stringify(full));
  };
  // Rounds 0 and 1 of each suite, `metrics` computed from the round's headline value.
  const rounds = (value: (round: number) => number, metrics: (v: number) => Record<string, number>) =>
    [0, 1].map((round) => ({ round, value: value(round), metrics: metrics(value(round)), missing: 0 }));
  for (const iteration of [1, 2]) {
    const up = 10 * (iteration - 1);
    const winRate = (r: number) => 30 + up + 5 * r;
    const score = (r: number) => 20 + up + 7 * r;
    write(iteration, {
      name: 'alpaca',
      kind: 'alpaca-eval',
      headline: 'win rate',
      rounds: rounds(winRate, (v) => ({ winRate: v, standardError: 2 })),
    });
    write(iteration, {
      name: 'arena',
      kind: 'arena-hard',
      headline: 'score vs baseline',
      rounds: rounds(score, (v) => ({ score: v, lower: 15 + up, upper: 35 + up })),
    });
  }

  const { stdout } = await evolve('report', run, '--out', out);
  assert.match(
    stdout,
    /^2\s+suite: alpaca \(alpaca-eval\)\s+win rate refine@1 \(SE 2\.0\)\s+45\.0%\s+20\s+llm:judge/m,
  );
  assert.match(
    stdout,
    /^1\s+suite: arena \(arena-hard\)\s+score vs baseline direct \[15\.0, 35\.0\]\s+20\.0%/m,
  );
  assert.match(stdout, /report: .*report\.html \(6 charts\)/);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.ok(html.includes('suite-arena/summary.json'), 'the summaries are linked');
  const drawn = await drawnMarks(chromium, html, out);
  // 2 suites x 2 responses: 4 lines across the 2 iterations, and their 8 points.
  assert.equal(drawn.suites, 4 + 8);
});

test('evolve report on a directory without a run: one clear line naming the file, exit code 1', async () => {
  const empty = mkdtempSync(join(tmpdir(), 'evolve-report-empty-'));
  try {
    await assert.rejects(evolve('report', empty), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1);
      assert.equal(err.stderr.trim(), `no evolve run at ${empty}: ${join(empty, 'config.json')} is missing`);
      return true;
    });
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});
