/**
 * Labelled data for `eval` and `calibrate`: JSONL (`{"text": ..., "label": ...}` per line) or CSV with a
 * header row naming the text and label columns. A label that is not an intent id of the rail set means
 * "must not match" (out of scope); `oos` is the customary spelling.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CsvSyntaxError, parseCsv } from './csv.js';

export interface LabelledItem {
  readonly text: string;
  readonly label: string;
  /** 1-based line in the data file, for messages about a single item. */
  readonly line: number;
}

export interface DataOptions {
  /** CSV only: the column holding the message (default `text`). */
  readonly textColumn?: string | undefined;
  /** CSV only: the column holding the label (default `label`). */
  readonly labelColumn?: string | undefined;
}

/** A problem with the data file, reported as `file:line: message`. */
export class DataFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataFileError';
  }
}

export type DataFormat = 'jsonl' | 'csv';

/** `.csv` is CSV; everything else (`.jsonl`, `.ndjson`, `.json`) is read as JSON lines. */
export function dataFormatOf(file: string): DataFormat {
  return path.extname(file).toLowerCase() === '.csv' ? 'csv' : 'jsonl';
}

export async function readLabelledData(file: string, options: DataOptions = {}): Promise<LabelledItem[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new DataFileError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const items = dataFormatOf(file) === 'csv' ? parseCsvData(file, text, options) : parseJsonl(file, text, options);
  if (items.length === 0) throw new DataFileError(`${file}: no labelled items`);
  return items;
}

function labelText(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

export function parseJsonl(file: string, text: string, options: DataOptions = {}): LabelledItem[] {
  const textKey = options.textColumn ?? 'text';
  const labelKey = options.labelColumn ?? 'label';
  const items: LabelledItem[] = [];
  // A byte-order mark (Windows editors write one) is not part of the first line's JSON.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  body.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(raw);
    } catch (error) {
      throw new DataFileError(`${file}:${line}: not valid JSON: ${(error as Error).message}`);
    }
    if (!row || typeof row !== 'object' || Array.isArray(row))
      throw new DataFileError(`${file}:${line}: expected an object like {"${textKey}": "...", "${labelKey}": "..."}`);
    const record = row as Record<string, unknown>;
    const message = record[textKey];
    const label = labelText(record[labelKey]);
    if (typeof message !== 'string') throw new DataFileError(`${file}:${line}: "${textKey}" must be a string`);
    if (label === undefined || label === '')
      throw new DataFileError(`${file}:${line}: "${labelKey}" is missing (use "oos" for out-of-scope items)`);
    items.push({ text: message, label, line });
  });
  return items;
}

export function parseCsvData(file: string, text: string, options: DataOptions = {}): LabelledItem[] {
  const textColumn = options.textColumn ?? 'text';
  const labelColumn = options.labelColumn ?? 'label';
  let records;
  try {
    records = parseCsv(text);
  } catch (error) {
    if (error instanceof CsvSyntaxError) throw new DataFileError(`${file}:${error.line}: ${error.message}`);
    throw error;
  }
  const [header, ...rows] = records;
  if (!header) return [];
  const names = header.fields.map((name) => name.trim());
  const textAt = names.indexOf(textColumn);
  const labelAt = names.indexOf(labelColumn);
  for (const [column, at, flag] of [
    [textColumn, textAt, '--text-column'],
    [labelColumn, labelAt, '--label-column'],
  ] as const) {
    if (at < 0)
      throw new DataFileError(
        `${file}:${header.line}: no column "${column}" in the header (${names.join(', ')}); name it with ${flag}`,
      );
  }
  return rows.map(({ fields, line }) => {
    // More fields than the header is as wrong as fewer: an unquoted comma in the text shifts the label.
    if (fields.length !== names.length)
      throw new DataFileError(`${file}:${line}: expected ${names.length} columns, found ${fields.length}`);
    const message = fields[textAt]!;
    const label = fields[labelAt]!.trim();
    if (label === '') throw new DataFileError(`${file}:${line}: empty label (use "oos" for out-of-scope items)`);
    return { text: message, label, line };
  });
}
