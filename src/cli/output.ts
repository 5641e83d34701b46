import type { Cli } from './io.ts';

export type Cell = string | number | boolean | Date | null | undefined;

function text(cell: Cell): string {
  if (cell === null || cell === undefined || cell === '') return '-';
  if (cell instanceof Date) return cell.toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (typeof cell === 'boolean') return cell ? 'yes' : 'no';
  // Values written with plain SQL may hold anything: keep one row on one line.
  return String(cell).replace(/[\u0000-\u001f\u007f]/g, ' '); // eslint-disable-line no-control-regex
}

/** An aligned table: a header row, then one row per item; the last column is not padded. */
export function formatTable(headers: readonly string[], rows: readonly Cell[][]): string {
  const cells = [headers.map((h) => h.toUpperCase()), ...rows.map((row) => row.map(text))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/**
 * Prints a list: JSON (an array, camelCase fields, ISO dates) with `--json`, else a table,
 * or `empty` on stderr when there is nothing to show.
 */
export function printList<T>(
  cli: Cli,
  options: { json?: boolean | undefined },
  items: readonly T[],
  view: {
    headers: readonly string[];
    row: (item: T) => Cell[];
    json: (item: T) => object;
    empty: string;
  },
): void {
  if (options.json) {
    cli.print(JSON.stringify(items.map(view.json), null, 2));
    return;
  }
  if (items.length === 0) {
    cli.note(view.empty);
    return;
  }
  cli.print(formatTable(view.headers, items.map(view.row)));
}
