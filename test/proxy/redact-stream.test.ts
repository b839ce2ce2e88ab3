import { describe, expect, it } from 'vitest';
import { maskSecret, redactPieces } from '../../src/proxy/redact-stream.js';

const KEY = 'sk-operator-secret-123';

async function relayed(pieces: readonly (string | Buffer)[], key = KEY): Promise<string> {
  async function* source() {
    yield* pieces;
  }
  const out: Buffer[] = [];
  for await (const piece of redactPieces(source(), key, '***')) out.push(piece);
  return Buffer.concat(out).toString('utf8');
}

/** Every way of cutting `bytes` in three. */
function* splits(bytes: Buffer, step = 1): Generator<Buffer[]> {
  for (let a = 0; a <= bytes.length; a++)
    for (let b = a; b <= bytes.length; b += step) yield [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)];
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

  it('passes a body without the key through unchanged, whatever its characters and however it is cut', async () => {
    // Emoji are two UTF-16 halves: a hold-back cut between them would turn each into U+FFFD.
    const text = `{"text":"naïve 🎉 über 🎉🎉 sk-operator ${'🎉'.repeat(12)} end"}`;
    for (const pieces of splits(Buffer.from(text), 3)) expect(await relayed(pieces)).toBe(text);
  });

  it('masks a key whose end repeats its start however copies of it overlap, as the whole text is masked', async () => {
    const key = 'sk-abcdes';
    const text = `a sk-abcdesk-abcdesk-abcdes b sk-abcdes-sk-abcdesk-abcdes c`;
    const whole = maskSecret(text, key, '***');
    expect(whole).toBe('a *** b ***-*** c');
    for (const pieces of splits(Buffer.from(text))) expect(await relayed(pieces, key)).toBe(whole);
  });

  it('holds back no more than a key length, even inside a long run of overlapping copies', async () => {
    const key = 'aaaaaaaa';
    async function* source() {
      yield 'x'.repeat(10) + 'a'.repeat(100_000);
      yield 'a'.repeat(100_000);
      yield 'b';
    }
    const iterator = redactPieces(source(), key, '***');
    // The run is replaced as soon as it is seen; what follows of it adds nothing.
    expect((await iterator.next()).value?.toString()).toBe(`${'x'.repeat(10)}***`);
    const rest: string[] = [];
    for await (const piece of iterator) rest.push(piece.toString());
    expect(rest.join('')).toBe('b');
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
