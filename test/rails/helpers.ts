/** Rail folders written from the test itself (so the YAML and its expected line:column sit side by side). */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { formatIssue, validateRails } from '../../src/rails/load.js';
import type { LoadOptions } from '../../src/rails/merge.js';

/** Lines joined with "\n": a file's line N is the array's entry N-1, which keeps positions countable. */
export type FileLines = readonly string[];

const created: string[] = [];
afterEach(() => {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A temp folder holding `files` (names may contain "/"); removed after the test. */
export function writeTree(files: Readonly<Record<string, FileLines | string>>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'railgate-rails-'));
  created.push(root);
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(root, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, typeof content === 'string' ? content : content.join('\n') + '\n');
  }
  return root;
}

/** Validates one set folder written from `files`; issues as `file.yml:line:column: message`, relative to it. */
export async function issuesOf(
  files: Readonly<Record<string, FileLines | string>>,
  options?: LoadOptions,
): Promise<string[]> {
  const dir = writeTree(files);
  const { issues } = await validateRails(dir, options);
  return issues.map((issue) => formatIssue(issue, dir));
}

/** A minimal valid intent, as YAML lines, for files that need one. */
export const VALID_INTENT: FileLines = [
  '  - id: greeting',
  '    action: respond',
  '    response: Hello!',
  '    examples: [hi]',
];

export { captureIO, type CapturedIO } from '../helpers/cli-io.js';
