// Durations as people type them: "90s", "5m", "1h", "1h30m", "1.5h", "250ms", or a bare number
// of seconds ("45"). Used for `handgrad train --time 5m`.

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds for a duration string; a RangeError that shows the expected form otherwise. */
export function parseDuration(text: string): number {
  const t = text.trim().toLowerCase();
  const bad = () => new RangeError(`'${text}' is not a duration (expected e.g. 30s, 5m, 1h, 1h30m, or seconds as a number)`);
  if (t === '') throw bad();
  let ms = 0;
  if (/^\d+(\.\d+)?$/.test(t)) {
    ms = Number(t) * 1000;
  } else {
    // One or more <number><unit> parts: "90s", "1m30s" and "1h5m" all work.
    const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
    let at = 0;
    while (at < t.length) {
      part.lastIndex = at;
      const m = part.exec(t);
      if (!m) throw bad();
      ms += Number(m[1]) * UNIT_MS[m[2]];
      at = part.lastIndex;
    }
  }
  if (!(ms > 0) || !Number.isFinite(ms)) throw new RangeError(`'${text}': a duration must be longer than zero`);
  return ms;
}

/** 75_000 → "1m15s", 3_723_000 → "1h02m03s": compact, for progress lines and ETAs. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  if (h === 0) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${h}h${String(m % 60).padStart(2, '0')}m${String(s % 60).padStart(2, '0')}s`;
}
