// Sizes as people type them: "100MB", "1.5GB", "512k", "64MiB", or a bare number of bytes.
// Used for `handgrad train --bpe-sample 100MB` and `handgrad bench data --size 256MB`.
// Decimal units (kB, MB, GB: powers of 1000) and binary ones (KiB, MiB, GiB: powers of 1024),
// case-insensitive, with "k"/"m"/"g" alone read as decimal. Twenty lines did not warrant a
// dependency (and its entry in every lock file).

const UNIT_BYTES: Readonly<Record<string, number>> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/** Bytes for a size string (rounded down to a whole byte); a RangeError showing the expected form otherwise. */
export function parseByteSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNIT_BYTES[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new RangeError(`'${text}' is not a size (expected e.g. 100MB, 1.5GB, 512k, 64MiB, or bytes as a number)`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!(bytes > 0) || !Number.isSafeInteger(bytes)) throw new RangeError(`'${text}': a size must be at least one byte`);
  return bytes;
}

/** 1_234_567 → "1.23 MB": decimal units, three significant digits, for messages and reports. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = bytes / 1000, u = 0;
  while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}
