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

/** Characters that show nothing: zero-width spaces and joiners, soft hyphens, BOMs, bidi controls… */
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * Combining marks on Latin letters (after decomposition: é is e + ´). Only on Latin: in Devanagari or
 * Thai a mark is part of the letter, and Latin is what the disguises are made of.
 */
const MARKS_ON_LATIN = /(?<=\p{Script=Latin})\p{M}+/gu;

/** A word: letters, marks and digits (a disguised word mixes scripts within one). */
const WORD = /[\p{L}\p{M}\p{N}]+/gu;
const LATIN = /\p{Script=Latin}/u;
const CYRILLIC_OR_GREEK = /[\p{Script=Cyrillic}\p{Script=Greek}]/u;

/** Cyrillic and Greek letters drawn like Latin ones. */
// prettier-ignore
const LOOK_ALIKES: ReadonlyMap<string, string> = new Map(
  Object.entries({
    // Cyrillic
    а: 'a', е: 'e', о: 'o', р: 'p', с: 'c', у: 'y', х: 'x', і: 'i', ј: 'j', ѕ: 's', ԁ: 'd', һ: 'h', ӏ: 'l', ԛ: 'q', ԝ: 'w',
    А: 'A', В: 'B', Е: 'E', К: 'K', М: 'M', Н: 'H', О: 'O', Р: 'P', С: 'C', Т: 'T', Х: 'X', У: 'Y', І: 'I', Ј: 'J', Ѕ: 'S',
    // Greek
    α: 'a', ο: 'o', ρ: 'p', ν: 'v', ι: 'i', κ: 'k', υ: 'u',
    Α: 'A', Β: 'B', Ε: 'E', Ζ: 'Z', Η: 'H', Ι: 'I', Κ: 'K', Μ: 'M', Ν: 'N', Ο: 'O', Ρ: 'P', Τ: 'T', Υ: 'Y', Χ: 'X',
  }),
);

const LATIN_LETTERS = /\p{Script=Latin}/gu;
const CYRILLIC_OR_GREEK_LETTERS = /[\p{Script=Cyrillic}\p{Script=Greek}]/gu;

/**
 * Look-alikes made Latin in a word that mixes Latin with Cyrillic or Greek letters, and, in a text
 * mostly in Latin letters, in a word made of look-alikes only ("а" for "a"). Russian or Greek text is
 * not a disguise: its words are left alone.
 */
function unmixer(text: string): (word: string) => string {
  const mostlyLatin = (text.match(LATIN_LETTERS)?.length ?? 0) > (text.match(CYRILLIC_OR_GREEK_LETTERS)?.length ?? 0);
  return (word) => {
    if (!CYRILLIC_OR_GREEK.test(word)) return word;
    let out = '';
    let allLookAlikes = true;
    for (const char of word) {
      const latin = LOOK_ALIKES.get(char);
      // A mark on a look-alike (Cyrillic ӧ is о and a diaeresis) goes with it, dropped after.
      if (latin === undefined && !MARK.test(char)) allLookAlikes = false;
      out += latin ?? char;
    }
    return LATIN.test(word) || (mostlyLatin && allLookAlikes) ? out : word;
  };
}

const MARK = /\p{M}/u;

/**
 * Unicode tag characters (U+E0020–E007E) mirror ASCII, invisibly: a model reading them reads the
 * hidden text ("ASCII smuggling"), so matching reads it too.
 */
const TAGS = /[\u{E0020}-\u{E007E}]/gu;
const untagged = (tag: string): string => String.fromCodePoint(tag.codePointAt(0)! - 0xe0000);

/**
 * The text as matching reads it: compatibility forms unified (full-width letters, ligatures, as
 * NFKC does), tag characters read as the ASCII they mirror, invisible characters dropped, accents on
 * Latin letters dropped, look-alike letters in mixed-script words made Latin. Folding a folded text
 * changes nothing. A text that would fold to nothing is matched as it is.
 */
export function foldForMatching(text: string): string {
  let decomposed = text.normalize('NFKD');
  // A few compatibility characters expand many-fold (U+FDFA is 18 characters): 32,000 of them would
  // be matched as 576,000 after the length limit was checked. Such a text keeps them as they are.
  if (decomposed.length > 2 * text.length) decomposed = text.normalize('NFD');
  const bare = decomposed.replace(TAGS, untagged).replace(INVISIBLE, '').replace(MARKS_ON_LATIN, '');
  // Look-alikes made Latin may carry marks of their own (ӧ): dropped as on any Latin letter.
  const folded = bare.replace(WORD, unmixer(bare)).replace(MARKS_ON_LATIN, '').normalize('NFC');
  return folded.trim() === '' ? text : folded;
}
