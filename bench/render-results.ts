/**
 * `npm run bench:tables [-- FILE]`: writes the generation benchmark's table from its JSON
 * (docs/results/generation-bench.json by default) into docs/performance.md (every row) and README.md
 * (the rows with a target), between their `<!-- generation-bench:begin -->` / `end` markers, with the
 * date, the load and the command. The docs test fails when either is not what this would write.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { markdownTable, type Row } from './results-table.js';

export const RESULTS_JSON = 'docs/results/generation-bench.json';

interface Results {
  table: Row[];
  argv: string[];
  finishedAt: string;
  load: [number, number];
}

export function resultsBlock(results: Results, targetsOnly: boolean): string {
  const rows = targetsOnly ? results.table.filter((r) => r[3] !== null) : results.table;
  const failed = results.table.filter((r) => r[3] === false).length;
  const command = ['npm run bench:generation --', ...results.argv].join(' ');
  return [
    `Measured ${results.finishedAt.slice(0, 16).replace('T', ' ')} UTC (the run's end) on the shared 2-core`,
    `machine, one-minute load ${results.load[0]} at the start and ${results.load[1]} at the end, with`,
    `\`${command}\` (${failed === 0 ? 'every target passed' : `${failed} of ${results.table.filter((r) => r[3] !== null).length} targets failed`}).`,
    '',
    markdownTable(rows),
  ].join('\n');
}

/** `text` with what lies between the markers named `name` replaced by `block`. */
export function renderInto(text: string, name: string, block: string, file: string): string {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  if (from === -1 || to < from) throw new Error(`${file}: no ${begin} ... ${end} markers`);
  return `${text.slice(0, from + begin.length)}\n\n${block}\n\n${text.slice(to)}`;
}

export const targets = [
  { file: 'docs/performance.md', targetsOnly: false },
  { file: 'README.md', targetsOnly: true },
];

export function rendered(file: string, targetsOnly: boolean, results: Results): string {
  return renderInto(readFileSync(file, 'utf8'), 'generation-bench', resultsBlock(results, targetsOnly), file);
}

if (process.argv[1]?.endsWith('render-results.ts')) {
  const results = JSON.parse(readFileSync(process.argv[2] ?? RESULTS_JSON, 'utf8')) as Results;
  for (const { file, targetsOnly } of targets) writeFileSync(file, rendered(file, targetsOnly, results));
}
