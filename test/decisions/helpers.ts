/** Temp folders and captured CLI streams for the decision log tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'railgate-decisions-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export { captureIO, type CapturedIO } from '../helpers/cli-io.js';
