/**
 * Long messages are split into chunks before they are embedded. A sentence embedding of a long text is
 * an average of everything in it, so one harmful sentence inside three paragraphs of harmless text
 * barely moves it; measured with the bundled model, a request buried in a 60-word chunk scores well
 * below the same request on its own (see EVAL.md), so single sentences are chunks too.
 *
 * The chunks of a long text are (1) windows of consecutive sentences of at most `chunk_words` words,
 * each starting with the last sentence of the one before (the overlap), so a request spread over a
 * few sentences is whole in one of them; and (2) every sentence on its own, so a one-sentence request
 * is seen undiluted. A sentence longer than `chunk_words` is cut into overlapping word windows.
 */

/**
 * Words per chunk window. The bundled model represents a sentence or two well and its cost grows with
 * the square of a text's length; 30 words keeps a window to about two sentences.
 */
export const DEFAULT_CHUNK_WORDS = 30;

/**
 * Chunks per message (limits.messageChunks): every chunk is a model input, so without a bound one
 * long paste (a log, a document) would hold the model for many seconds while every other message waits.
 */
export const DEFAULT_MAX_CHUNKS = 64;

const CLOSERS = new Set(["'", '"', ')', ']']);
const ENDS = new Set(['.', '!', '?']);

/**
 * The text cut where a sentence ends: at a run of white space that holds a line break, or that follows
 * . ! or ? (and any closing quotes or brackets). One pass, each character looked at a bounded number of
 * times: a regular expression for this backtracks on long runs of spaces or quotes, and it runs on the
 * event loop (31,000 spaces held every request for a second).
 */
function splitSentences(text: string): string[] {
  const out: string[] = [];
  let from = 0;
  for (const run of text.matchAll(/\s+/gu)) {
    const start = run.index;
    let before = start - 1;
    // Only the closers since the previous run are walked back over: each is walked once.
    while (before >= from && CLOSERS.has(text[before]!)) before--;
    if (run[0].includes('\n') || (before >= from && ENDS.has(text[before]!))) {
      out.push(text.slice(from, start));
      from = start + run[0].length;
    }
  }
  out.push(text.slice(from));
  return out;
}

/**
 * The text with its white space made single spaces, as the model is given a chunk: runs of spaces,
 * tabs or line breaks between the words are read by the model as text of their own and dilute the
 * words (20 spaces: 0.63 → 0.27). A text of white space only stays as it is.
 */
export function singleSpaced(text: string): string {
  const flat = text.replace(/\s+/gu, ' ').trim();
  return flat === '' ? text : flat;
}

function words(text: string): string[] {
  return text.split(/\s+/u).filter((w) => w.length > 0);
}

/** The text's sentences, as their words; split once, whatever widths the windows are then tried at. */
function sentenceWords(text: string): string[][] {
  return splitSentences(text)
    .map(words)
    .filter((w) => w.length > 0);
}

/** Sentences of at most `maxWords` words; a longer sentence is cut into overlapping word windows. */
function sentences(whole: readonly string[][], maxWords: number): string[][] {
  const out: string[][] = [];
  for (const w of whole) {
    if (w.length <= maxWords) {
      out.push(w);
      continue;
    }
    const stride = Math.max(1, Math.floor((maxWords * 2) / 3));
    for (let start = 0; start < w.length; start += stride) {
      out.push(w.slice(start, start + maxWords));
      if (start + maxWords >= w.length) break;
    }
  }
  return out;
}

/**
 * The widest window the bundled model reads whole: it reads 128 tokens, about 90 words of English, and
 * the rest of a longer text changes nothing in its vector.
 */
export const MODEL_READ_WORDS = 90;

/**
 * The chunks of a text: the sentence windows in order, then the sentences not already a window on
 * their own. A text of at most `maxWords` words is one chunk (single-spaced); `maxWords` ≤ 0 turns
 * chunking off. At most `maxChunks` chunks. When both do not fit, every sentence on its own comes
 * first, while there are fewer sentences than `maxChunks`: a request buried in a long text is most
 * often one sentence, and inside a window its neighbours dilute it. The windows are then made wider,
 * up to what the model reads whole, to fit in what is left; past that, as many of them as fit are
 * kept, spread over the text (a request spread over sentences is then looked for in part of it). A
 * text of `maxChunks` sentences or more gets windows made wider until they fit, and single sentences,
 * in order, while there is room.
 */
export function splitIntoChunks(
  text: string,
  maxWords: number = DEFAULT_CHUNK_WORDS,
  maxChunks: number = DEFAULT_MAX_CHUNKS,
): string[] {
  if (maxWords <= 0 || words(text).length <= maxWords) return [singleSpaced(text)];
  const budget = Math.max(1, maxChunks);
  const whole = sentenceWords(text);
  const parts = sentences(whole, maxWords);
  const singles = [...new Set(parts.map((p) => p.join(' ')))];
  let windows = sentenceWindows(parts, maxWords);
  if (windows.length + singles.length > budget) {
    if (singles.length < budget) {
      const room = budget - singles.length;
      const widest = Math.max(maxWords, MODEL_READ_WORDS);
      for (let width = maxWords; windows.length > room && width < widest;) {
        width = Math.min(width * 2, widest);
        windows = sentenceWindows(sentences(whole, width), width);
      }
      windows = spread(windows, room);
    } else {
      for (let width = maxWords * 2; windows.length > budget; width *= 2)
        windows = sentenceWindows(sentences(whole, width), width);
    }
  }
  const chunks = [...windows];
  const seen = new Set(chunks);
  for (const sentence of singles) {
    if (chunks.length >= budget) break;
    if (seen.has(sentence)) continue;
    seen.add(sentence);
    chunks.push(sentence);
  }
  return chunks;
}

/** At most `count` of `items`, evenly spaced, in order. */
function spread<T>(items: readonly T[], count: number): T[] {
  if (items.length <= count) return [...items];
  return Array.from({ length: count }, (_, i) => items[Math.floor((i * items.length) / count)]!);
}

function sentenceWindows(parts: readonly string[][], maxWords: number): string[] {
  const chunks: string[] = [];
  let start = 0;
  while (start < parts.length) {
    let end = start;
    let count = parts[start]!.length;
    while (end + 1 < parts.length && count + parts[end + 1]!.length <= maxWords) {
      end++;
      count += parts[end]!.length;
    }
    chunks.push(
      parts
        .slice(start, end + 1)
        .map((p) => p.join(' '))
        .join(' '),
    );
    if (end + 1 >= parts.length) break;
    // The next chunk starts with this one's last sentence (the overlap), unless that sentence would
    // fill it alone: a chunk held entirely inside the previous one adds nothing.
    const overlaps = end > start && parts[end]!.length + parts[end + 1]!.length <= maxWords;
    start = overlaps ? end : end + 1;
  }
  return chunks;
}
