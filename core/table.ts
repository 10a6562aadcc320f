/** A plain text table: columns padded to their widest cell, numbers right-aligned. */
export function formatTable(header: readonly string[], rows: readonly (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  return cells
    .map((row, i) =>
      row
        .map((cell, c) =>
          i > 0 && typeof rows[i - 1]![c] === 'number' ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
