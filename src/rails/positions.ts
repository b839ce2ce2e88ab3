/**
 * Where things are in a rail file. Every issue the loader reports points at the YAML node it is about,
 * so a rail author can jump straight to `file:line:column`. The `yaml` package keeps each node's byte
 * range; a LineCounter turns offsets into 1-based lines and columns.
 */
import { LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { RailIssue, SourceLocation } from './types.js';

export interface YamlSource {
  /** Absolute path of the file. */
  readonly file: string;
  readonly doc: Document.Parsed;
  readonly lineCounter: LineCounter;
}

/** Something with a byte range: any parsed YAML node. */
export type Located = Pick<Node, 'range'>;

export function locateOffset(source: YamlSource, offset: number): SourceLocation {
  const { line, col } = source.lineCounter.linePos(offset);
  return { file: source.file, line, column: col };
}

export function locate(source: YamlSource, node: Located): SourceLocation {
  return locateOffset(source, node.range?.[0] ?? 0);
}

export function issueAt(location: SourceLocation, message: string): RailIssue {
  return { file: location.file, line: location.line, column: location.column, message };
}

/**
 * An issue about a whole file or folder (no position applies, e.g. "no rail files here").
 * Line and column 0 tell `formatIssue` to print the path alone.
 */
export function issueForPath(file: string, message: string): RailIssue {
  return { file, line: 0, column: 0, message };
}

/** Parses one rail file, keeping source positions; YAML syntax errors (and warnings) become issues. */
export function parseYamlFile(file: string, text: string): { source: YamlSource; issues: RailIssue[] } {
  const lineCounter = new LineCounter();
  // prettyErrors off: the message stays one line, and the position comes from our own LineCounter.
  const doc = parseDocument(text, { lineCounter, keepSourceTokens: true, prettyErrors: false });
  const source: YamlSource = { file, doc, lineCounter };
  const lines = text.split(/\r\n|\r|\n/);
  const issues = [...doc.errors, ...doc.warnings].map((error) => {
    const at = locateOffset(source, error.pos[0]);
    const key =
      error.code === 'BLOCK_AS_IMPLICIT_KEY' ? TEXT_WITH_COLON.exec(lines[at.line - 1] ?? '')?.[1] : undefined;
    // What `response: Our hours: 9-5` most often means (the yaml package's message does not say).
    const hint = key ? `; text holding ": " must be quoted: ${key}: "…: …"` : '';
    // The yaml package's advice (parseAllDocuments) is for programmers, not rail authors.
    if (error.code === 'MULTIPLE_DOCS')
      return issueAt(at, 'a rail file holds one YAML document; this is a second one (a `---` line starts one)');
    return issueAt(at, `YAML: ${yamlMessage(error.message)}${hint}`);
  });
  return { source, issues };
}

/**
 * A line giving a text key (`response`, `message`, a test's `input`, …) unquoted text with ": " in it,
 * the case the hint is for; not two keys run together (`- id: a action: respond`) or an anchor
 * (`a: &x b: c`).
 */
const TEXT_WITH_COLON = /^\s*(?:- )?(response|message|refusal|description|content|input): +[^\s'"{[&*|>!#].*: /;

/** The yaml package's messages are good; only trim trailing punctuation and blank context lines. */
function yamlMessage(message: string): string {
  return message.split('\n')[0]!.replace(/[.:]\s*$/, '');
}
