import { join } from 'node:path';
import { writeAtomic } from '../storage/files.js';
import { renderCharts } from './charts.js';
import { reportHtml } from './html.js';
import { metricRows } from './metrics.js';
import { readRun } from './read.js';
import { metricsTable } from './table.js';

export interface ReportOptions {
  runDir: string;
  outDir: string;
  /** The run's page in the Temporal UI (the workflow id is the run id). */
  workflowUrl: (runId: string) => string;
}

export interface WrittenReport {
  html: string;
  charts: string[];
  table: string;
}

/** Reads the run's artifacts and writes report.html plus one SVG per chart into outDir. */
export async function writeReport({ runDir, outDir, workflowUrl }: ReportOptions): Promise<WrittenReport> {
  const run = await readRun(runDir);
  const rows = metricRows(run);
  const charts = await renderCharts(run);
  const written: string[] = [];
  for (const chart of charts) {
    if (!chart.svg) continue;
    const path = join(outDir, 'charts', `${chart.id}.svg`);
    await writeAtomic(path, chart.svg);
    written.push(path);
  }
  const html = join(outDir, 'report.html');
  await writeAtomic(
    html,
    reportHtml({
      run,
      rows,
      charts,
      workflowUrl: workflowUrl(run.runId),
      generatedAt: new Date().toISOString(),
      outDir,
    }),
  );
  return { html, charts: written, table: metricsTable(rows) };
}
