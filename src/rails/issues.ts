/**
 * How rail problems reach people: `file:line:column: message` lines (the shape editors and CI
 * annotations understand), gathered into one RailsInvalidError when rails must load.
 */
import path from 'node:path';
import { RailgateError } from '../errors.js';
import type { RailIssue } from './types.js';

/** `file` is `dir` or lies under it. */
export function within(dir: string, file: string): boolean {
  const relative = path.relative(dir, file);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/**
 * A path as people read it: relative to `cwd` when it lies under it (`rails/bank/support.yml`), else
 * absolute (`/srv/rails`, not `../../srv/rails`).
 */
export function displayPath(file: string, cwd: string = process.cwd()): string {
  if (!within(cwd, file)) return path.resolve(cwd, file);
  return path.relative(cwd, file) || '.';
}

/** `rails/bank/support.yml:12:7: message`, the path as `displayPath` shows it; line 0 means the whole file or folder. */
export function formatIssue(issue: RailIssue, cwd: string = process.cwd()): string {
  const shown = displayPath(issue.file, cwd);
  const where = issue.line > 0 ? `${shown}:${issue.line}:${issue.column}` : shown;
  return `${where}: ${issue.message}`;
}

/** Issues in reading order: by file, then line, then column. */
export function sortIssues(issues: readonly RailIssue[]): RailIssue[] {
  return [...issues].sort(
    (a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.line - b.line || a.column - b.column,
  );
}

export class RailsInvalidError extends RailgateError {
  readonly issues: readonly RailIssue[];

  constructor(issues: readonly RailIssue[], cwd?: string) {
    const sorted = Object.freeze(sortIssues(issues));
    const count = sorted.length === 1 ? '1 issue' : `${sorted.length} issues`;
    super(
      'RG_ERR_RAILS_INVALID',
      `invalid rails (${count}):\n${sorted.map((i) => '  ' + formatIssue(i, cwd)).join('\n')}`,
    );
    this.name = 'RailsInvalidError';
    this.issues = sorted;
  }
}
