import { existsSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type { Chart } from './charts.js';
import type { MetricRow } from './metrics.js';
import type { GenerationQuality, IterationData, RunData } from './read.js';
import { TABLE_COLUMNS, tableCells } from './table.js';

export interface HtmlInput {
  run: RunData;
  rows: MetricRow[];
  charts: Chart[];
  workflowUrl: string;
  generatedAt: string;
  /** Where report.html is written: links to the run's files are relative to it. */
  outDir: string;
}

const escape = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

/**
 * A link relative to the report, so that the report and the run directory can be moved or served
 * together; percent-encoded like a file URL.
 */
const linker = (outDir: string) => (path: string, label: string) => {
  const rel = relative(resolve(outDir), resolve(path)).split(sep).map(encodeURIComponent).join('/');
  return `<a href="${escape(rel || '.')}">${escape(label)}</a>`;
};
type FileLink = ReturnType<typeof linker>;

/** The artifacts of an iteration that exist, as links (a running iteration has only some). */
function artifactLinks(run: RunData, it: IterationData, fileLink: FileLink): string {
  const paths = [
    'train/prompts.jsonl',
    'train/sample',
    'train/refine',
    'train/judge',
    'train/pairs/pairs.jsonl',
    'train/pairs/pairs.jsonl.manifest.json',
    'eval/prompts.jsonl',
    'eval/sample',
    'eval/refine',
    'eval/judge',
    'eval/evaluation.json',
    ...it.suites.map((suite) => `suite-${suite.name}/summary.json`),
  ]
    .map((p) => join(it.dir, p))
    .filter((p) => existsSync(p));
  if (it.training) paths.push(it.training.dir, join(it.training.dir, 'train.log'));
  const items = paths.map((p) => `<li>${fileLink(p, relative(run.dir, p))}</li>`).join('');
  return `<h3>iteration ${it.iteration}</h3><ul>${items}</ul>`;
}

function iterationStatus(run: RunData, it: IterationData): string {
  const done = [
    it.trainScores.length > 0 && `${it.trainScores.length} training responses judged`,
    it.pairs && `${it.pairs.rows} pairs`,
    it.training && `training ${it.training.state}`,
    it.evaluation && `evaluated on ${it.evaluation.prompts} prompts`,
    it.suites.length > 0 && `suites ${it.suites.map((suite) => suite.name).join(', ')} scored`,
  ].filter(Boolean);
  const label = it.iteration === 0 ? '0 (the initial policy)' : `${it.iteration}/${run.config.iterations}`;
  return `<li>iteration ${label}: ${escape(done.join(', ') || 'started')}</li>`;
}

/** The pairs manifest as a dataset card: where the DPO data came from and what was dropped. */
function datasetCard(run: RunData, it: IterationData, fileLink: FileLink): string {
  if (!it.pairs) return '';
  const m = it.pairs;
  const facts: [string, string][] = [
    ['rows', String(m.rows)],
    ['bytes', String(m.bytes)],
    ['sha256', m.sha256],
    ['pairing rule', run.config.pairing.rule],
    ['margin', String(run.config.pairing.margin)],
    ['refinement pairs', String(run.config.pairing.refinementPairs)],
    ...Object.entries(m.stats).map(([k, v]): [string, string] => [k, String(v)]),
  ];
  const rows = facts.map(([k, v]) => `<tr><th>${escape(k)}</th><td>${escape(v)}</td></tr>`).join('');
  return `<h3>iteration ${it.iteration}: ${fileLink(join(it.dir, 'train', 'pairs', 'pairs.jsonl'), 'pairs.jsonl')}</h3><table class="card">${rows}</table>`;
}

function metricsTableHtml(run: RunData, rows: MetricRow[], fileLink: FileLink): string {
  const head = [...TABLE_COLUMNS, 'source'].map((c) => `<th>${c}</th>`).join('');
  const body = rows
    .map((row) => {
      const cells = tableCells(row).map((c) => `<td>${escape(c)}</td>`);
      return `<tr>${cells.join('')}<td>${fileLink(join(run.dir, row.source), row.source)}</td></tr>`;
    })
    .join('\n');
  return `<table class="metrics"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const percentOf = (n: number, of: number) => `${n} (${of ? ((100 * n) / of).toFixed(1) : '0.0'} %)`;

/** Per iteration and phase: responses cut at maxTokens, empty, refinements that changed nothing, refusals. */
function qualityTable(run: RunData): string {
  const rows = run.iterations.flatMap((it) =>
    it.quality.map((q: GenerationQuality) => {
      const cells = [String(it.iteration), q.phase, String(q.responses)];
      cells.push(
        ...(['truncated', 'empty', 'unchanged', 'refused'] as const).map((f) =>
          percentOf(q.flags[f], q.responses),
        ),
      );
      return `<tr>${cells.map((c) => `<td>${escape(c)}</td>`).join('')}</tr>`;
    }),
  );
  if (rows.length === 0) return '<p class="missing">No finished generations yet.</p>';
  const head = [
    'iter',
    'phase',
    'responses',
    'truncated (maxTokens)',
    'empty',
    'unchanged refinement',
    'refused',
  ];
  return `<table class="metrics"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

const lastUser = (messages: { role: string; content: string }[]) =>
  messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
const clip = (text: string, n = 400) => (text.length > n ? `${text.slice(0, n)}…` : text);

/** The first pairs of an iteration's training set, as the trainer sees them. */
function examplePairs(it: IterationData): string {
  if (it.examplePairs.length === 0) return '';
  const rows = it.examplePairs
    .map((p) => {
      const cells = [
        p.kind,
        lastUser(p.prompt),
        p.chosen[0]?.content ?? '',
        p.rejected[0]?.content ?? '',
        p.margin.toFixed(3),
      ];
      return `<tr>${cells.map((c) => `<td>${escape(clip(c))}</td>`).join('')}</tr>`;
    })
    .join('');
  const head = ['kind', 'prompt (last user turn)', 'chosen', 'rejected', 'margin'];
  return `<h3>iteration ${it.iteration}</h3><table class="metrics"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows}</tbody></table>`;
}

function chartFigure(chart: Chart): string {
  const body = chart.svg ?? `<p class="missing">Not available yet: ${escape(chart.missing)}.</p>`;
  return `<figure data-chart="${chart.id}"><figcaption>${escape(chart.title)}</figcaption>${body}</figure>`;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
h1{font-size:1.5rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
figure{display:inline-block;vertical-align:top;margin:0 1.5rem 1.5rem 0}figcaption{font-weight:600;margin-bottom:.5rem}
table{border-collapse:collapse;font-size:.85rem}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
.card th{background:#f6f6f6}.missing{color:#a60}code{background:#f3f3f3;padding:0 .2rem}`;

/** One self-contained page: inline CSS and inline SVG charts, no scripts, links to the run's files. */
export function reportHtml({ run, rows, charts, workflowUrl, generatedAt, outDir }: HtmlInput): string {
  const c = run.config;
  const fileLink = linker(outDir);
  // Iteration 0 (the initial policy) is evaluated too, but is not one of the trained iterations.
  const evaluated = run.iterations.filter((it) => it.iteration > 0 && it.evaluation).length;
  const zero = run.iterations.some((it) => it.iteration === 0 && it.evaluation)
    ? ' The initial policy is evaluated as iteration 0.'
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>evolve report: ${escape(run.runId)}</title>
<style>${STYLE}</style></head><body>
<h1>EVOLVE run <code>${escape(run.runId)}</code></h1>
<p>${evaluated} of ${c.iterations} iteration(s) evaluated.${zero} Base model <code>${escape(c.policy.baseModel)}</code>;
${c.sampling.samples} sample(s) x chain depth ${c.sampling.chainDepth}; ${escape(c.refinement.template)} refinement;
evaluation with ${c.evaluation.refineRounds} refinement round(s). Generated ${escape(generatedAt)}.</p>
<ul>${run.iterations.map((it) => iterationStatus(run, it)).join('')}</ul>
<p><a href="${escape(workflowUrl)}">The run in the Temporal UI</a> &middot; ${fileLink(run.dir, 'artifacts')} &middot;
${fileLink(join(run.dir, 'config.json'), 'config.json')}</p>
<h2>Charts</h2>
${charts.map(chartFigure).join('\n')}
<h2>Metrics</h2>
${metricsTableHtml(run, rows, fileLink)}
<h2>Generation quality</h2>
${qualityTable(run)}
<h2>Pair datasets</h2>
${run.iterations.map((it) => datasetCard(run, it, fileLink)).join('\n') || '<p class="missing">No pairs yet.</p>'}
<h2>Example pairs</h2>
${run.iterations.map(examplePairs).join('\n') || '<p class="missing">No pairs yet.</p>'}
<h2>Artifacts</h2>
${run.iterations.map((it) => artifactLinks(run, it, fileLink)).join('\n')}
</body></html>
`;
}
