/** Realistic, distinct customer-support messages for benchmarks (so caches cannot help unless meant to). */
import { seededRandom } from './stats.js';

const OPENERS = ['Hi,', 'Hello,', 'Hey there,', '', 'Good morning,', 'Quick question:', 'Excuse me,'];
const ASKS = [
  'how do I reset my online banking password',
  'I think my debit card was stolen yesterday',
  'what are your branch opening hours on Saturday',
  'can I increase the limit on my credit card',
  'why was I charged a fee for a transfer',
  'how long does an international transfer take',
  'I want to dispute a transaction I do not recognise',
  'how can I order a new cheque book',
  'what is the interest rate on your savings account',
  'can you help me set up a standing order',
  'my card was declined at the shop',
  'how do I change my registered address',
];
const TAILS = ['', 'please', 'thanks!', 'as soon as possible', 'for my joint account', 'on the mobile app', 'today'];

export function distinctMessages(count: number, seed: number): string[] {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  // A numeric reference makes every message unique while keeping it natural.
  return Array.from({ length: count }, (_, i) =>
    [pick(OPENERS), pick(ASKS), pick(TAILS), `(ref ${seed}-${i})`].filter(Boolean).join(' '),
  );
}
