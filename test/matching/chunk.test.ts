import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CHUNK_WORDS,
  DEFAULT_MAX_CHUNKS,
  MODEL_READ_WORDS,
  splitIntoChunks,
} from '../../src/matching/chunk.js';

const wordCount = (text: string) => text.split(/\s+/).filter(Boolean).length;
/** A sentence of `n` words, numbered so that tests can tell sentences apart. */
const sentence = (label: string, n: number) =>
  Array.from({ length: n }, (_, i) => (i === 0 ? label : `w${i}`)).join(' ') + '.';

describe('splitting long messages into chunks', () => {
  it('keeps a message of up to chunk_words words whole, its white space made single spaces', () => {
    const text = '  Hello there!\nHow do I\t\treset my    password?  ';
    expect(splitIntoChunks(text)).toEqual(['Hello there! How do I reset my password?']);
    const long = Array.from({ length: DEFAULT_CHUNK_WORDS }, () => 'word').join(' ');
    expect(splitIntoChunks(long)).toEqual([long]);
  });

  it('gives every sentence its own chunk, plus windows of sentences that overlap by one sentence', () => {
    const sentences = ['A', 'B', 'C', 'D', 'E', 'F', 'G'].map((label) => sentence(label, 15));
    const chunks = splitIntoChunks(sentences.join(' '), 40);
    for (const chunk of chunks) expect(wordCount(chunk)).toBeLessThanOrEqual(40);
    // Each sentence on its own, undiluted by its neighbours.
    for (const s of sentences) expect(chunks).toContain(s);
    // The windows come first, in order; consecutive ones share a sentence, so a request spread over a
    // boundary is whole in one of them.
    const windows = chunks.filter((c) => wordCount(c) > 15);
    expect(windows.length).toBeGreaterThan(1);
    expect(chunks.slice(0, windows.length)).toEqual(windows);
    for (let i = 1; i < windows.length; i++) {
      const shared = sentences.filter((s) => windows[i - 1]!.includes(s) && windows[i]!.includes(s));
      expect(shared).toHaveLength(1);
    }
    expect(new Set(chunks).size).toBe(chunks.length);
  });

  it('cuts one very long sentence into overlapping word windows', () => {
    const words = Array.from({ length: 200 }, (_, i) => `w${i}`);
    const chunks = splitIntoChunks(words.join(' '), 60);
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    for (const chunk of chunks) expect(wordCount(chunk)).toBeLessThanOrEqual(60);
    const covered = new Set(chunks.flatMap((c) => c.split(' ')));
    expect(covered.size).toBe(200);
    expect(chunks[0]!.split(' ').at(-1)).not.toBe(chunks[1]!.split(' ')[0]); // windows overlap, not abut
    expect(chunks[1]!.split(' ')).toContain(chunks[0]!.split(' ').at(-1));
  });

  it('treats line breaks as sentence ends and turns chunking off with 0', () => {
    const text = Array.from({ length: 8 }, (_, i) => `line ${i} has a few words in it`).join('\n');
    expect(splitIntoChunks(text, 20).every((c) => !c.includes('\n'))).toBe(true);
    expect(splitIntoChunks(text, 0)).toEqual([text.replace(/\n/g, ' ')]);
  });

  it('bounds a long paste to limits.messageChunks chunks that still cover every word', () => {
    // A pasted log: 3,000 short lines, each its own sentence.
    const lines = Array.from({ length: 3_000 }, (_, i) => `line ${i} status ok`);
    const chunks = splitIntoChunks(lines.join('\n'));
    expect(chunks.length).toBeLessThanOrEqual(DEFAULT_MAX_CHUNKS);
    const covered = new Set(chunks.flatMap((c) => c.split(' ')));
    for (let i = 0; i < 3_000; i++) expect(covered.has(String(i))).toBe(true);
    // Fewer chunks asked for, fewer given; the windows come first and still cover the text.
    const few = splitIntoChunks(lines.slice(0, 200).join('\n'), DEFAULT_CHUNK_WORDS, 8);
    expect(few.length).toBeLessThanOrEqual(8);
    expect(few.join(' ')).toContain('line 199 status ok');
  });

  it('keeps every sentence on its own when the budget is short, widening the windows instead', () => {
    const sentences = Array.from({ length: 12 }, (_, i) => `This is sentence number ${i} of the message.`);
    const text = sentences.join(' ');
    const all = splitIntoChunks(text);
    const capped = splitIntoChunks(text, DEFAULT_CHUNK_WORDS, all.length - 3);
    expect(capped.length).toBeLessThanOrEqual(all.length - 3);
    // A request buried late in the text is still seen undiluted...
    for (const s of sentences) expect(capped).toContain(s);
    // ...and the windows, fewer and wider, still cover it all, in order.
    const windows = capped.slice(0, capped.length - sentences.length);
    expect(windows.length).toBeGreaterThan(0);
    for (const s of sentences) expect(windows.some((w) => w.includes(s))).toBe(true);
    // Windows never grow past what the model reads whole: past it, fewer are kept, spread over the text.
    const many = Array.from(
      { length: 60 },
      (_, i) => `This is sentence ${i} with exactly twelve words in it right now.`,
    );
    const tight = splitIntoChunks(many.join(' '));
    for (const s of many) expect(tight).toContain(s);
    const wide = tight.filter((c) => !many.includes(c));
    expect(wide.length).toBeGreaterThan(0);
    for (const w of wide) expect(wordCount(w)).toBeLessThanOrEqual(MODEL_READ_WORDS);
    // With more sentences than the budget, the widest windows come first, then sentences while there is room.
    const few = splitIntoChunks(text, DEFAULT_CHUNK_WORDS, 5);
    expect(few.length).toBe(5);
    for (const s of sentences) expect(few.some((c) => c.includes(s))).toBe(true);
  });

  it('ends sentences after closing quotes and at line breaks, whatever runs of spaces or quotes lie between', () => {
    const spaces = `${sentence('A', 40)}${' '.repeat(2_000)}tail words here`;
    expect(splitIntoChunks(spaces, 30).at(-1)).toBe('tail words here');
    const quotes = `He said "stop.${'"'.repeat(2_000)} ${sentence('B', 40)}`;
    expect(splitIntoChunks(quotes, 30)).toContain(sentence('B', 40).split(' ').slice(0, 30).join(' '));
    // Closing quotes and brackets after the end mark still end the sentence; a line break always does.
    const text = `${sentence('C', 20)}") ${sentence('D', 20)}\n${sentence('E', 5).slice(0, -1)}\n  ${sentence('F', 5)}`;
    const chunks = splitIntoChunks(text, 25);
    expect(chunks).toContain(`${sentence('C', 20)}")`);
    expect(chunks).toContain(sentence('D', 20));
    expect(chunks).toContain(sentence('E', 5).slice(0, -1));
  });
});
