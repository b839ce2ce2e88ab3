/**
 * `--since` values: a look-back like `30s`, `15m`, `1h`, `7d`, `2w` (counted back from `now`), or an ISO
 * date / date-time like `2024-05-01` or `2024-05-01T12:00:00Z`. A date alone means midnight UTC, and a
 * date-time without an offset is UTC too: `railgate logs` prints times in UTC, so a time copied from its
 * output names the same instant on any machine (JavaScript would read it as local time).
 */
const UNIT_MS = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
} as const;

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

const DURATION_EXAMPLES = 'a duration like 30s, 15m, 1h, 7d or 2w';
const DATE_EXAMPLES = 'an ISO date like 2024-05-01 or 2024-05-01T12:00:00Z';

/** A duration like `15m` → milliseconds; throws on anything else. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text.trim());
  if (!match) throw new Error(`invalid duration "${text}": use ${DURATION_EXAMPLES}`);
  const unit = match[2] as keyof typeof UNIT_MS;
  return Math.round(Number(match[1]) * UNIT_MS[unit]);
}

const OFFSET = /(?:Z|[+-]\d{2}:?\d{2})$/i;

/**
 * A `--since` (or `--until`, named by `flag`) value → epoch milliseconds: `now` minus a duration, or
 * the instant an ISO date names.
 */
export function parseSince(text: string, now: number, flag = '--since'): number {
  const value = text.trim();
  if (DURATION.test(value)) return now - parseDuration(value);
  const iso = ISO_DATE.exec(value);
  if (iso) {
    const withTime = iso[4] !== undefined;
    const time = Date.parse(value.replace(' ', 'T') + (withTime && !OFFSET.test(value) ? 'Z' : ''));
    if (Number.isFinite(time) && realCalendarDate(iso)) return time;
    throw new Error(`invalid date "${text}": no such day or time`);
  }
  throw new Error(`invalid ${flag} "${text}": use ${DURATION_EXAMPLES}, or ${DATE_EXAMPLES}`);
}

/** Date.parse rolls 2024-02-30 over to March 1st; a reviewer who typed it made a mistake instead. */
function realCalendarDate(iso: RegExpExecArray): boolean {
  const [y, m, d, hour = 0, minute = 0, second = 0] = iso.slice(1, 7).map((part) => Number(part ?? 0));
  if (y === undefined || m === undefined || d === undefined) return false;
  const daysInMonth = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return m >= 1 && m <= 12 && d >= 1 && d <= daysInMonth && hour < 24 && minute < 60 && second < 60;
}
