import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromiumFor, dumpDom } from '../support/chromium.js';
import { demoRun } from '../support/run-fixture.js';

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

  const probe = join(out, 'probe.html');
  writeFileSync(probe, html.replace('</body>', `${PROBE}</body>`));
  const dom = await dumpDom(chromium, pathToFileURL(probe).href);
  const drawn = Object.fromEntries(
    [...dom.matchAll(/<figure data-chart="(\w+)" data-drawn-marks="(\d+)"/g)].map((m) => [
      m[1],
      Number(m[2]),
    ]),
  );
  // From the demo run: 2 eval rounds of 1 iteration; 1 gain bar; score bars for 2 judges x 2 rounds
  // (the LLM judge only "unparseable", the verifier 0 and 1); 7 pair counts; 3 trainer series of 5 steps.
  assert.deepEqual(drawn, { accuracy: 2, gain: 1, rewards: 6, pairs: 7, training: 3 + 15 });
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
