import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/util/duration.js';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000], ['5m', 300_000], ['1h', 3_600_000], ['1h30m', 5_400_000], ['1.5h', 5_400_000],
    ['250ms', 250], ['45', 45_000], [' 2M ', 120_000], ['1d', 86_400_000], ['1m30s', 90_000],
  ])('%s → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', 'soon', '5 minutes', '5x', 'm5', '-5s', '0', '0s', '1h-5m'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(RangeError);
  });
});

describe('formatDuration', () => {
  it('is compact', () => {
    expect(formatDuration(4_400)).toBe('4s');
    expect(formatDuration(75_000)).toBe('1m15s');
    expect(formatDuration(3_723_000)).toBe('1h02m03s');
    expect(formatDuration(Number.NaN)).toBe('?');
  });
});
