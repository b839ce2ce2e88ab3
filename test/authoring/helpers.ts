/** Shared by the authoring tests: rails copied into a temp folder, and a CliIO that captures output. */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureIO } from '../helpers/cli-io.js';
import { main } from '../../src/cli/main.js';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/authoring');

/** A temp folder holding a copy of the authoring fixtures; `rails/` is the rails root. */
export async function workspace(): Promise<{ dir: string; rails: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'railgate-authoring-'));
  await cp(path.join(FIXTURES, 'support'), path.join(dir, 'rails', 'support'), { recursive: true });
  for (const data of ['labelled.jsonl', 'labelled.csv', 'sweep.jsonl', 'calibrate.jsonl'])
    await cp(path.join(FIXTURES, data), path.join(dir, data));
  return { dir, rails: path.join(dir, 'rails'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `railgate <argv>` in `cwd` (no config file there, so settings are the defaults). */
export async function railgate(cwd: string, argv: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const io = captureIO(cwd, env);
  const code = await main(argv, io);
  return { code, stdout: io.out(), stderr: io.err() };
}
