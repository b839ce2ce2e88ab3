/** The CLI as a shell pipeline runs it: a reader that stops early (`| head`) must not crash it. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function pipeline(command: string): Promise<{ status: string; stderr: string }> {
  return new Promise((resolve) => {
    // `true` exits without reading, so railgate writes into a closed pipe; PIPESTATUS keeps its status.
    const script = `${command} | true; echo "railgate exited \${PIPESTATUS[0]}" >&2`;
    execFile('bash', ['-c', script], { cwd: ROOT, timeout: 60_000 }, (_error, _stdout, stderr) =>
      resolve({ status: /railgate exited (\d+)/.exec(stderr)?.[1] ?? 'unknown', stderr }),
    );
  });
}

describe('a closed output pipe', () => {
  it('ends the command quietly, with its own exit status', async () => {
    const run = await pipeline(`"${process.execPath}" --import tsx src/cli/bin.ts check --rails rails`);
    expect(run.stderr).not.toContain('EPIPE');
    expect(run.status).toBe('0');
  });
});
