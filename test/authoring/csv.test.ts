import { describe, expect, it } from 'vitest';
import { CsvSyntaxError, parseCsv } from '../../src/authoring/csv.js';
import { DataFileError, parseCsvData, parseJsonl } from '../../src/authoring/dataset.js';

describe('parseCsv (RFC 4180)', () => {
  it('reads quoted fields with commas, doubled quotes and line breaks', () => {
    const text = 'text,label\r\n"a, b",x\r\n"say ""hi""",y\n"two\nlines",z\n';
    expect(parseCsv(text).map((r) => r.fields)).toEqual([
      ['text', 'label'],
      ['a, b', 'x'],
      ['say "hi"', 'y'],
      ['two\nlines', 'z'],
    ]);
  });

  it('keeps empty fields, skips blank lines and a byte-order mark, and numbers lines', () => {
    const records = parseCsv('\ufeffa,b,c\n\n1,,3\n"multi\nline",,\n4,5,6');
    expect(records.map((r) => r.fields)).toEqual([
      ['a', 'b', 'c'],
      ['1', '', '3'],
      ['multi\nline', '', ''],
      ['4', '5', '6'],
    ]);
    expect(records.map((r) => r.line)).toEqual([1, 3, 4, 6]);
  });

  it('keeps a quote inside an unquoted field as data', () => {
    expect(parseCsv('5" screen,x').map((r) => r.fields)).toEqual([['5" screen', 'x']]);
  });

  it('reports an unterminated quote with its line', () => {
    expect(() => parseCsv('a,b\n"open,x\n')).toThrow(CsvSyntaxError);
    try {
      parseCsv('a,b\n"open,x\n');
    } catch (error) {
      expect((error as CsvSyntaxError).line).toBe(2);
    }
  });
});

describe('labelled data', () => {
  it('reads CSV by column name', () => {
    const items = parseCsvData('d.csv', 'id,msg,lab\n1,"hello, you",greeting\n2,bye,oos\n', {
      textColumn: 'msg',
      labelColumn: 'lab',
    });
    expect(items).toEqual([
      { text: 'hello, you', label: 'greeting', line: 2 },
      { text: 'bye', label: 'oos', line: 3 },
    ]);
  });

  it('names a missing column and the flag that sets it', () => {
    expect(() => parseCsvData('d.csv', 'message,label\nhi,greeting\n')).toThrow(/no column "text".*--text-column/);
  });

  it('reads JSON lines and points at the bad line', () => {
    expect(parseJsonl('d.jsonl', '{"text":"hi","label":"greeting"}\n\n{"text":"x","label":"oos"}')).toEqual([
      { text: 'hi', label: 'greeting', line: 1 },
      { text: 'x', label: 'oos', line: 3 },
    ]);
    expect(() => parseJsonl('d.jsonl', '{"text":"hi","label":"greeting"}\n{"text": 1}')).toThrow(DataFileError);
    expect(() => parseJsonl('d.jsonl', '{"text":"hi"}')).toThrow(/d.jsonl:1: "label" is missing/);
  });

  it('reads JSON lines that start with a byte-order mark, with CRLF line ends', () => {
    expect(parseJsonl('d.jsonl', '\ufeff{"text":"hi","label":"greeting"}\r\n{"text":"x","label":"oos"}\r\n')).toEqual([
      { text: 'hi', label: 'greeting', line: 1 },
      { text: 'x', label: 'oos', line: 2 },
    ]);
  });
});
