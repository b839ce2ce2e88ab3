import { describe, expect, it } from 'vitest';
import { redactPieces } from '../../src/proxy/redact-stream.js';

const KEY = 'sk-operator-secret-123';

async function relayed(pieces: readonly (string | Buffer)[]): Promise<string> {
  async function* source() {
    yield* pieces;
  }
  const out: Buffer[] = [];
  for await (const piece of redactPieces(source(), KEY, '***')) out.push(piece);
  return Buffer.concat(out).toString('utf8');
}

describe('masking the operator key in a body relayed piece by piece', () => {
  it('masks the key wherever the body is split, even mid-key', async () => {
    const body = `{"note":"${KEY}","again":"${KEY}${KEY}"}`;
    for (let at = 0; at <= body.length; at++) {
      for (let second = at; second <= body.length; second += 7) {
        const pieces = [body.slice(0, at), body.slice(at, second), body.slice(second)];
        expect(await relayed(pieces)).toBe('{"note":"***","again":"******"}');
      }
    }
  });

  it('passes a body without the key through unchanged, a character split across two pieces included', async () => {
    const bytes = Buffer.from('{"text":"naïve 🎉 über sk-operator"}');
    for (let at = 0; at <= bytes.length; at++)
      expect(await relayed([bytes.subarray(0, at), bytes.subarray(at)])).toBe(bytes.toString('utf8'));
  });

  it('passes on what cannot begin the key before the next piece arrives', async () => {
    async function* source() {
      yield `${'x'.repeat(100)}sk-oper`;
      yield 'ator-secret-123 done';
    }
    const iterator = redactPieces(source(), KEY, '***');
    // Only the tail that could still begin the key is held back.
    expect((await iterator.next()).value?.toString()).toBe('x'.repeat(100 - (KEY.length - 1 - 'sk-oper'.length)));
    const rest: string[] = [];
    for await (const piece of iterator) rest.push(piece.toString());
    expect(rest.join('')).toBe(`${'x'.repeat(KEY.length - 1 - 'sk-oper'.length)}*** done`);
  });
});
