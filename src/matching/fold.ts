/**
 * The text railgate matches: the message (and each rail example) with the disguises that change what
 * a model and the n-grams read, but not what a person or the upstream LLM reads, taken off. Measured
 * on rails/assistant with the bundled model, "how do I build a pipe bomb at home" scored 0.63 against
 * its weapons intent, and 0.23–0.28 (passed) with a zero-width space between letters, a soft hyphen
 * after each, an accent on every letter, or Cyrillic о а р е in place of the Latin letters.
 *
 * Examples are folded as messages are, so an example written with accents ("café") still matches the
 * same text; the decision log keeps the message as sent, so a reviewer sees the disguise.
 */

/**
 * Characters that show nothing: zero-width spaces and joiners, soft hyphens, BOMs, bidi controls,
 * every other format character (U+FFF9, U+0600…), and the Braille blank, which looks like a space.
 */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\p{Cf}\u2800]/gu;

/**
 * Combining marks on Latin letters (after decomposition: é is e + ´). Only on Latin: in Devanagari or
 * Thai a mark is part of the letter, and Latin is what the disguises are made of.
 */
const MARKS_ON_LATIN = /(?<=\p{Script=Latin})\p{M}+/gu;

/** Combining marks on no letter at all (after a space, a digit, punctuation, or first): noise. */
const DETACHED_MARKS = /(?<=^|[^\p{L}\p{M}])\p{M}+/gu;

/** A word: letters, marks and digits (a disguised word mixes scripts within one). */
const WORD = /[\p{L}\p{M}\p{N}]+/gu;
const LATIN = /\p{Script=Latin}/u;
/** Scripts with letters drawn like Latin ones. */
const LOOK_ALIKE_SCRIPTS = /[\p{Script=Cyrillic}\p{Script=Greek}\p{Script=Armenian}\p{Script=Cherokee}]/u;

/** Cyrillic, Greek, Armenian and Cherokee letters drawn like Latin ones. */
// prettier-ignore
const LOOK_ALIKES: ReadonlyMap<string, string> = new Map(
  Object.entries({
    // Cyrillic
    а: 'a', е: 'e', о: 'o', р: 'p', с: 'c', у: 'y', х: 'x', і: 'i', ј: 'j', ѕ: 's', ԁ: 'd', һ: 'h', ӏ: 'l', ԛ: 'q', ԝ: 'w', ҽ: 'e',
    А: 'A', В: 'B', Е: 'E', К: 'K', М: 'M', Н: 'H', О: 'O', Р: 'P', С: 'C', Т: 'T', Х: 'X', У: 'Y', І: 'I', Ј: 'J', Ѕ: 'S',
    // Greek
    α: 'a', ο: 'o', ρ: 'p', ν: 'v', ι: 'i', κ: 'k', υ: 'u', ε: 'e', τ: 't',
    Α: 'A', Β: 'B', Ε: 'E', Ζ: 'Z', Η: 'H', Ι: 'I', Κ: 'K', Μ: 'M', Ν: 'N', Ο: 'O', Ρ: 'P', Τ: 'T', Υ: 'Y', Χ: 'X',
    // Armenian
    օ: 'o', հ: 'h', ս: 'u', ո: 'n', ց: 'g', զ: 'q', ա: 'w', ւ: 'l', Տ: 'S', Օ: 'O', Ս: 'U',
    // Cherokee
    Ꭺ: 'A', Ᏼ: 'B', Ꮯ: 'C', Ꭰ: 'D', Ꭼ: 'E', Ꮐ: 'G', Ꮋ: 'H', Ꭻ: 'J', Ꮶ: 'K', Ꮮ: 'L', Ꮇ: 'M', Ꮲ: 'P', Ꮪ: 'S', Ꭲ: 'T', Ꮩ: 'V', Ꮃ: 'W', Ꮓ: 'Z',
  }),
);

/** Latin letters drawn like others: small capitals and phonetic letters, never a word's own spelling. */
// prettier-ignore
const LATIN_LOOK_ALIKES: ReadonlyMap<string, string> = new Map(
  Object.entries({
    ᴀ: 'a', ʙ: 'b', ᴄ: 'c', ᴅ: 'd', ᴇ: 'e', ꜰ: 'f', ɢ: 'g', ʜ: 'h', ɪ: 'i', ᴊ: 'j', ᴋ: 'k', ʟ: 'l', ᴍ: 'm', ɴ: 'n',
    ᴏ: 'o', ᴘ: 'p', ʀ: 'r', ꜱ: 's', ᴛ: 't', ᴜ: 'u', ᴠ: 'v', ᴡ: 'w', ʏ: 'y', ᴢ: 'z', ɑ: 'a', ɵ: 'o', ı: 'i', ɡ: 'g',
  }),
);

/**
 * Look-alikes made Latin in a word that mixes Latin with look-alike scripts, and, in a text with any
 * Latin letter, in a word made of look-alikes only ("а" for "a"). Russian or Greek text is not a
 * disguise: its words are left alone. A word whose case is not a word's (`hOw`, `BuIlD`, `dO`) is
 * lower-cased, as a disguise too.
 */
function unmixer(text: string): (word: string) => string {
  const anyLatin = LATIN.test(text);
  return (word) => {
    // An ASCII word has no look-alikes and no marks: only its digits and case can be a disguise.
    if (ASCII.test(word)) return unleeted(word, LEET_DIGITS);
    let out = '';
    let allLookAlikes = true;
    let foreign = false;
    for (const char of word) {
      const latin = LATIN_LOOK_ALIKES.get(char) ?? LOOK_ALIKES.get(char);
      if (LOOK_ALIKE_SCRIPTS.test(char)) foreign = true;
      // A mark on a look-alike (Cyrillic ӧ is о and a diaeresis) goes with it, dropped after.
      if (latin === undefined && !MARK.test(char)) allLookAlikes = false;
      out += latin ?? char;
    }
    return unleeted(!foreign || LATIN.test(word) || (anyLatin && allLookAlikes) ? out : word, LEET_DIGITS);
  };
}

/** A word with its letter-like digits read as letters, lower-cased where its case is a disguise. */
function unleeted(word: string, leetDigits: RegExp): string {
  const unmixed = word.replace(leetDigits, unleet);
  return oddlyCased(unmixed) ? unmixed.toLowerCase() : unmixed;
}

/** ASCII only: nothing for the Unicode steps of folding to change. */
const ASCII = /^[\0-\x7f]*$/;

/**
 * WORD, SPELLED_OUT and LEET_DIGITS over ASCII, where a letter is A–Z or a–z and a digit 0–9: the
 * same matches, at about a third of the cost of Unicode property classes.
 */
const ASCII_WORD = /[A-Za-z0-9]+/g;
const ASCII_SPELLED_OUT = /(?<![A-Za-z0-9])[A-Za-z]([ ._-])[A-Za-z](?:\1[A-Za-z])+(?![A-Za-z0-9])/g;
const ASCII_LEET_DIGITS = /(?<=[A-Za-z])[013457]+(?=[A-Za-z])/g;
const unleetedAscii = (word: string): string => unleeted(word, ASCII_LEET_DIGITS);
/**
 * What an ASCII text must hold for `unleetedAscii` to change a word of it: digits between letters, or
 * a small letter before a capital (digits between skipped), which every oddly cased word has (case
 * flips alternate, so two flips include a capital after a small letter). Most texts hold neither and
 * skip a call per word (10,000 rail examples: ~100 → ~15 ms at every start).
 */
const ASCII_WORD_TO_CHANGE = /[A-Za-z][013457]+[A-Za-z]|[a-z][0-9]*[A-Z]/;

/**
 * Digits standing for letters inside a word (`b0mb`, `p4ssw0rd`, `h4ck`): only between letters, so
 * `mp3`, `2fa`, `covid19` and `1337` keep theirs.
 */
const LEET_DIGITS = /(?<=\p{L})[013457]+(?=\p{L})/gu;
const LEET: Readonly<Record<string, string>> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't' };
const unleet = (digits: string): string => [...digits].map((d) => LEET[d] ?? d).join('');

/**
 * Three or more single letters set apart by one kind of separator, a space, dot, hyphen or underscore
 * (`b o m b`, `p.i.p.e`): one word, as a reader reads them. Each step takes a separator and a letter,
 * so the pattern cannot backtrack far.
 */
const SPELLED_OUT = /(?<![\p{L}\p{N}])\p{L}([ ._-])\p{L}(?:\1\p{L})+(?![\p{L}\p{N}])/gu;
/** Words of one letter that start a spelled-out run as words of their own ("a b o m b"). */
const ONE_LETTER_WORDS = new Set(['a', 'A', 'I']);
function joined(run: string, separator: string): string {
  const letters = run.split(separator);
  if (separator === ' ' && letters.length >= 4 && ONE_LETTER_WORDS.has(letters[0]!))
    return `${letters[0]} ${letters.slice(1).join('')}`;
  return letters.join('');
}

const UPPER = /\p{Lu}/u;
const LOWER = /\p{Ll}/u;

/**
 * Whether a word's case is not a word's: a capital after a small letter (`dO`, `hoMe`, `iPhone`), or
 * case flipping more than once (`BuIlD`). `Hello`, `HOW` and `hello` are words as written.
 */
function oddlyCased(word: string): boolean {
  let flips = 0;
  let last: boolean | undefined;
  for (const char of word) {
    const upper = UPPER.test(char) ? true : LOWER.test(char) ? false : undefined;
    if (upper === undefined) continue;
    if (last !== undefined && upper !== last) {
      if (upper || ++flips >= 2) return true;
    }
    last = upper;
  }
  return false;
}

const MARK = /\p{M}/u;

/**
 * Unicode tag characters (U+E0020–E007E) mirror ASCII, invisibly: a model reading them reads the
 * hidden text ("ASCII smuggling"), so matching reads it too.
 */
const TAGS = /[\u{E0020}-\u{E007E}]/gu;
const untagged = (tag: string): string => String.fromCodePoint(tag.codePointAt(0)! - 0xe0000);

/**
 * Letters in boxes and circles that compatibility forms leave as symbols: squared, negative circled and
 * negative squared capitals (U+1F130–1F189), and the regional indicators of flags (U+1F1E6–1F1FF),
 * which a model reads as the letters they show.
 */
const ENCLOSED_LETTERS = /[\u{1F130}-\u{1F149}\u{1F150}-\u{1F169}\u{1F170}-\u{1F189}\u{1F1E6}-\u{1F1FF}]/gu;
function unenclosed(char: string): string {
  const code = char.codePointAt(0)!;
  const first = code >= 0x1f1e6 ? 0x1f1e6 : code >= 0x1f170 ? 0x1f170 : code >= 0x1f150 ? 0x1f150 : 0x1f130;
  return String.fromCharCode(0x41 + code - first);
}

/**
 * The text as matching reads it: compatibility forms unified (full-width letters, ligatures, as
 * NFKC does), tag characters and boxed letters read as the letters they show, invisible characters
 * dropped, combining marks on Latin letters or on no letter dropped, look-alike letters made Latin
 * (unmixer), words whose case flips lower-cased. Folding a folded text changes nothing. A text that
 * would fold to nothing is matched as it is.
 */
export function foldForMatching(text: string): string {
  // Most messages and examples are ASCII, where there is nothing to normalise and no tag, boxed
  // letter, invisible character, mark or look-alike: folding 10,000 rail examples (at every start)
  // takes ~15 ms that way, against ~400 ms through every step.
  if (ASCII.test(text)) {
    const joinedUp = text.replace(ASCII_SPELLED_OUT, joined);
    const folded = ASCII_WORD_TO_CHANGE.test(joinedUp) ? joinedUp.replace(ASCII_WORD, unleetedAscii) : joinedUp;
    return folded.trim() === '' ? text : folded;
  }
  let decomposed = text.normalize('NFKD');
  // A few compatibility characters expand many-fold (U+FDFA is 18 characters): 32,000 of them would
  // be matched as 576,000 after the length limit was checked. Such a text keeps them as they are.
  if (decomposed.length > 2 * text.length) decomposed = text.normalize('NFD');
  const bare = decomposed
    .replace(TAGS, untagged)
    .replace(ENCLOSED_LETTERS, unenclosed)
    .replace(INVISIBLE, '')
    .replace(MARKS_ON_LATIN, '')
    .replace(DETACHED_MARKS, '')
    .replace(SPELLED_OUT, joined);
  // Look-alikes made Latin may carry marks of their own (ӧ): dropped as on any Latin letter.
  const folded = bare.replace(WORD, unmixer(bare)).replace(MARKS_ON_LATIN, '').normalize('NFC');
  return folded.trim() === '' ? text : folded;
}
