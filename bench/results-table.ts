/** The benchmark's table of targets: printed, kept in its JSON, and rendered into the docs from that JSON. */
export type Row = [measure: string, value: string, target: string, pass: boolean | null];

/** A markdown table of the rows, columns padded as prettier pads them. */
export function markdownTable(rows: readonly Row[]): string {
  const heads = ['measure', 'value', 'target', 'result'];
  const cells = rows.map(([m, v, t, pass]) => [m, v, t, pass === null ? '' : pass ? 'PASS' : 'FAIL']);
  const width = heads.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(width[i]!)).join(' | ')} |`;
  return [line(heads), `| ${width.map((w) => '-'.repeat(w)).join(' | ')} |`, ...cells.map(line)].join('\n');
}
