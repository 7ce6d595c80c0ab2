// Option parsers for the CLI. Each factory returns a commander argParser that turns the text
// the user typed into a value, or throws a UsageError that says what was wrong and what was
// expected. main.ts prints a UsageError as one line and exits with code 2.

/** A mistake in how the CLI was called (exit code 2), as opposed to a failure while running (1). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** An integer in [min, max]. `flag` names the option in the message, e.g. '--reps'. */
export function parseInteger(flag: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => integerIn(flag, text.trim(), min, max);
}

/** A comma-separated list of integers, each in [min, max], e.g. "--sizes 64,128". */
export function parseIntegerList(flag: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number[] => {
    const parts = text.split(',').map((s) => s.trim());
    if (parts.some((p) => p === '')) {
      throw new UsageError(`${flag} expects a comma-separated list of ${rangeText(min, max)}; '${text}' has an empty entry`);
    }
    return parts.map((p) => integerIn(flag, p, min, max, text));
  };
}

/** A comma-separated list of names, each one of `choices`. */
export function parseChoiceList<T extends string>(flag: string, choices: readonly T[]) {
  return (text: string): T[] => {
    const parts = text.split(',').map((s) => s.trim());
    for (const p of parts) {
      if (!(choices as readonly string[]).includes(p)) {
        throw new UsageError(`${flag} expects a comma-separated list of ${choices.join(', ')}; '${p}' is not one of them`);
      }
    }
    return parts as T[];
  };
}

/** One of `choices`. */
export function parseChoice<T extends string>(flag: string, choices: readonly T[]) {
  return (text: string): T => {
    if (!(choices as readonly string[]).includes(text)) {
      throw new UsageError(`${flag} expects one of ${choices.join(', ')}, got '${text}'`);
    }
    return text as T;
  };
}

/** Parses one integer; `list` is the whole list it came from, when it came from one. */
function integerIn(flag: string, text: string, min: number, max: number, list?: string): number {
  const isInt = /^[+-]?\d+$/.test(text);
  const v = isInt ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    const expected = list === undefined ? article(rangeText(min, max)) : `a comma-separated list of ${rangeText(min, max)}`;
    const got = isInt ? `${text} is out of range` : `'${text}' is not an integer`;
    throw new UsageError(`${flag} expects ${expected}; ${got}${list !== undefined && list !== text ? ` (in '${list}')` : ''}`);
  }
  return v;
}

function rangeText(min: number, max: number): string {
  return max === Number.MAX_SAFE_INTEGER ? `integers ≥ ${min}` : `integers from ${min} to ${max}`;
}

function article(plural: string): string {
  // "integers ≥ 1" -> "an integer ≥ 1"
  return plural.replace(/^integers/, 'an integer');
}
