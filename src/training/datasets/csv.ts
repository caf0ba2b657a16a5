// Delimited text as the public data sets ship it: CBIS-DDSM's description files (commas, some
// path fields quoted with a newline inside the quotes) and INbreast.csv (semicolons, blank
// fields padded with spaces). RFC 4180 quoting; fields are trimmed; blank lines are skipped.

import { DatasetError } from '../../domain/errors.js';

export interface CsvRow {
  /** 1-based line where the row starts, for messages. */
  line: number;
  /** Trimmed values by column name. */
  values: Record<string, string>;
}

export interface CsvTable {
  header: string[];
  rows: CsvRow[];
}

/** Splits the text into records of raw fields, with the line each record starts on. */
function records(text: string, delimiter: string, source: string): { line: number; fields: string[] }[] {
  const out: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let quoteLine = 0;
  const end = () => {
    fields.push(field);
    if (fields.length > 1 || fields[0]!.trim() !== '') out.push({ line: start, fields });
    fields = [];
    field = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
    } else if (c === '"' && field.trim() === '') {
      quoted = true;
      quoteLine = line;
      field = '';
    } else if (c === delimiter) {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      end();
      line++;
      start = line;
    } else field += c;
  }
  if (quoted) throw new DatasetError(`${source} line ${quoteLine}`, 'a quoted field is not closed');
  if (field !== '' || fields.length > 0) end();
  return out;
}

/**
 * Parses a table whose first record is the header. Every column in `required` must be present
 * (exact names, as the data set spells them); a row with more fields than the header is an
 * error, a shorter one gets '' for the missing trailing fields (spreadsheet exports drop them).
 */
export function parseCsv(text: string, source: string, options: { delimiter?: string; required?: readonly string[] } = {}): CsvTable {
  const all = records(text.replace(/^\uFEFF/, ''), options.delimiter ?? ',', source);
  const first = all[0];
  if (!first) throw new DatasetError(source, 'the file is empty: no header row');
  const header = first.fields.map((h) => h.trim());
  const missing = (options.required ?? []).filter((name) => !header.includes(name));
  if (missing.length > 0) {
    throw new DatasetError(`${source} line ${first.line}`, `missing column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `'${m}'`).join(', ')} (the header has ${header.map((h) => `'${h}'`).join(', ')})`);
  }
  const rows = all.slice(1).map(({ line, fields }) => {
    if (fields.length > header.length) throw new DatasetError(`${source} line ${line}`, `${fields.length} fields for ${header.length} columns`);
    return { line, values: Object.fromEntries(header.map((name, i) => [name, (fields[i] ?? '').trim()])) };
  });
  return { header, rows };
}
