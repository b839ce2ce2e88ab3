/** A CliIO whose output streams are captured, for running `railgate` commands in tests. */
import { Writable } from 'node:stream';
import type { CliIO } from '../../src/cli/io.js';

export interface CapturedIO extends CliIO {
  out(): string;
  err(): string;
}

function collector(): { stream: Writable; text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

export function captureIO(cwd: string, env: Record<string, string | undefined> = {}): CapturedIO {
  const stdout = collector();
  const stderr = collector();
  return { stdout: stdout.stream, stderr: stderr.stream, env, cwd, out: stdout.text, err: stderr.text };
}
