import { describe, expect, it } from 'vitest';
import { parseDuration, parseSince } from '../../src/decisions/duration.js';

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

describe('parseSince', () => {
  it.each([
    ['30s', 30_000],
    ['15m', 15 * 60_000],
    ['1h', 3_600_000],
    ['7d', 7 * 86_400_000],
    ['2w', 14 * 86_400_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
  ])('reads the look-back %s as now minus %d ms', (text, ms) => {
    expect(parseSince(text, NOW)).toBe(NOW - ms);
  });

  it('reads an ISO date as midnight UTC and a date-time with offset as that instant', () => {
    expect(parseSince('2025-01-01', NOW)).toBe(Date.UTC(2025, 0, 1));
    expect(parseSince('2025-01-14T08:15:00Z', NOW)).toBe(Date.UTC(2025, 0, 14, 8, 15));
    expect(parseSince('2025-01-14T10:15:00+02:00', NOW)).toBe(Date.UTC(2025, 0, 14, 8, 15));
    expect(parseSince('2025-01-14T08:15:00.250Z', NOW)).toBe(Date.UTC(2025, 0, 14, 8, 15, 0, 250));
  });

  it('reads a date-time without an offset as UTC, the zone `railgate logs` prints, whatever the local zone', () => {
    const zone = process.env.TZ;
    process.env.TZ = 'Asia/Tokyo';
    try {
      expect(new Date(Date.UTC(2025, 0, 14)).getHours()).toBe(9); // the zone did change
      expect(parseSince('2025-01-14T08:15:00', NOW)).toBe(Date.UTC(2025, 0, 14, 8, 15));
      expect(parseSince('2025-01-14 08:15', NOW)).toBe(Date.UTC(2025, 0, 14, 8, 15));
      expect(parseSince('2025-01-14', NOW)).toBe(Date.UTC(2025, 0, 14));
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it.each(['', 'yesterday', '1y', '-1h', 'h', '10', '1 hour', 'May 1', '2025/01/01'])(
    'rejects %j with the forms it accepts',
    (text) => {
      expect(() => parseSince(text, NOW)).toThrow(/30s, 15m, 1h, 7d or 2w.*ISO date/);
    },
  );

  it('rejects dates that do not exist instead of rolling them over', () => {
    expect(() => parseSince('2025-02-30', NOW)).toThrow(/invalid date "2025-02-30"/);
    expect(() => parseSince('2025-13-01', NOW)).toThrow(/invalid date/);
    expect(() => parseSince('2025-01-01T24:30Z', NOW)).toThrow(/invalid date/);
    expect(parseSince('2024-02-29', NOW)).toBe(Date.UTC(2024, 1, 29));
  });
});

describe('parseDuration', () => {
  it('converts a duration to milliseconds and rejects dates', () => {
    expect(parseDuration('2w')).toBe(1_209_600_000);
    expect(() => parseDuration('2025-01-01')).toThrow(/invalid duration "2025-01-01"/);
  });
});
