import { formatTable } from '../core/table.js';
import { formatValue, type MetricRow } from './metrics.js';

export const TABLE_COLUMNS = ['iter', 'set', 'metric', 'value', 'n', 'judge', 'extractor'] as const;

/** The cells of one metric row, as both the terminal table and the HTML table show them. */
export function tableCells(row: MetricRow): string[] {
  return [
    String(row.iteration),
    row.set,
    row.metric,
    formatValue(row),
    row.n === null ? '-' : String(row.n),
    row.judge,
    row.extractor,
  ];
}

/** Every metric as an aligned plain-text table for the terminal. */
export function metricsTable(rows: MetricRow[]): string {
  return formatTable(TABLE_COLUMNS, rows.map(tableCells));
}
