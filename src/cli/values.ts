// Option parsers for real numbers and durations, in the style of args.ts (which has the integer
// and choice parsers): each returns a commander argParser that throws a UsageError (exit 2) naming
// the flag, what was typed, and what was expected.
import { UsageError } from './args.js';
import { parseDuration } from '../util/duration.js';
import { parseByteSize } from '../util/bytes.js';

export interface NumberRange {
  min?: number;
  max?: number;
  /** true: the value must be strictly greater than min. */
  minExclusive?: boolean;
  /** true: the value must be strictly less than max. */
  maxExclusive?: boolean;
}

function rangeText(r: NumberRange): string {
  const lo = r.min === undefined ? '' : `${r.minExclusive ? '>' : '≥'} ${r.min}`;
  const hi = r.max === undefined ? '' : `${r.maxExclusive ? '<' : '≤'} ${r.max}`;
  return lo && hi ? `a number ${lo} and ${hi}` : lo || hi ? `a number ${lo || hi}` : 'a number';
}

/** A finite real number within `range`, e.g. parseNumber('--lr', { min: 0, minExclusive: true }). */
export function parseNumber(flag: string, range: NumberRange = {}) {
  return (text: string): number => {
    const t = text.trim();
    const v = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t) ? Number(t) : Number.NaN;
    const ok = Number.isFinite(v)
      && (range.min === undefined || (range.minExclusive ? v > range.min : v >= range.min))
      && (range.max === undefined || (range.maxExclusive ? v < range.max : v <= range.max));
    if (!ok) throw new UsageError(`${flag} expects ${rangeText(range)}, got '${text}'`);
    return v;
  };
}

/** A duration such as 30s, 5m, 1h or 1h30m, as milliseconds. */
export function parseDurationOption(flag: string) {
  return (text: string): number => {
    try {
      return parseDuration(text);
    } catch (e) {
      throw new UsageError(`${flag} expects a duration like 30s, 5m, 1h or 1h30m; ${(e as Error).message.replace(/ \(expected.*\)$/, '')}`);
    }
  };
}

/** A size such as 100MB, 1.5GB, 512k or 64MiB, as bytes. */
export function parseByteSizeOption(flag: string) {
  return (text: string): number => {
    try {
      return parseByteSize(text);
    } catch (e) {
      throw new UsageError(`${flag} expects a size like 100MB, 1.5GB or 64MiB; ${(e as Error).message.replace(/ \(expected.*\)$/, '')}`);
    }
  };
}
