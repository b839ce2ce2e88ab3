/**
 * A small RFC 4180 CSV reader: quoted fields may hold commas, doubled quotes and line breaks; CRLF and
 * LF both end records. Labelled data sets are often exported from spreadsheets, so this must not be
 * a `split(',')`.
 */

export interface CsvRecord {
  readonly fields: string[];
  /** 1-based line where the record starts (a quoted field may span lines). */
  readonly line: number;
}

export class CsvSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
    this.name = 'CsvSyntaxError';
  }
}

/** Parses CSV text into records. Blank lines are skipped; a byte-order mark is ignored. */
export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  // A blank line yields no record; a quote opens a quoted field only at the start of a field.
  let recordStarted = false;
  let atFieldStart = true;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;

  const endRecord = (): void => {
    if (recordStarted) records.push({ fields: [...fields, field], line: recordLine });
    fields = [];
    field = '';
    recordStarted = false;
    atFieldStart = true;
  };

  while (i < text.length) {
    const ch = text[i]!;
    if (!recordStarted) recordLine = line;
    if (ch === '\r' || ch === '\n') {
      endRecord();
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      line++;
      continue;
    }
    recordStarted = true;
    if (ch === ',') {
      fields.push(field);
      field = '';
      atFieldStart = true;
      i++;
      continue;
    }
    if (ch === '"' && atFieldStart) {
      const openedOn = line;
      i++;
      for (;;) {
        if (i >= text.length) throw new CsvSyntaxError('unterminated quoted field', openedOn);
        const c = text[i]!;
        if (c === '"' && text[i + 1] === '"') {
          field += '"';
          i += 2;
        } else if (c === '"') {
          i++;
          break;
        } else {
          if (c === '\n') line++;
          field += c;
          i++;
        }
      }
      const next = text[i];
      if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r')
        throw new CsvSyntaxError(`unexpected ${JSON.stringify(next)} after a closing quote`, line);
      atFieldStart = false;
      continue;
    }
    atFieldStart = false;
    field += ch;
    i++;
  }
  endRecord();
  return records;
}
