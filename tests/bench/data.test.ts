// `handgrad bench data` on a small generated corpus: a smoke test of the report's structure (the
// two token files must be the same bytes), never a measurement.
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { lastJson, runHandgrad } from '../cli/helpers.js';

describe('handgrad bench data', () => {
  it('generates, encodes on 1 and 2 threads, reads windows, reports JSON, and leaves nothing behind', () => {
    const ours = () => readdirSync(tmpdir()).filter((f) => f.startsWith('handgrad-bench-data-'));
    const before = ours();
    const r = runHandgrad(['bench', 'data', '--size', '3MB', '--bpe-sample', '1MB', '--json'], 120_000);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout) as Record<string, unknown> & { encode: { threads: number; mbPerSec: number }[]; bpe: { sampleBytes: number } };
    expect(j.corpusBytes as number).toBeGreaterThanOrEqual(3e6);
    expect(j.encode.map((e) => e.threads)).toEqual([1, 2]);
    expect(j.encode.every((e) => e.mbPerSec > 0)).toBe(true);
    expect(j.tokenFilesIdentical).toBe(true);
    expect(j.bpe.sampleBytes).toBe(1e6);
    expect(j.peakRssBytes as number).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/bpe: training the tokenizer on a 1\.00 MB sample/);
    expect(ours()).toEqual(before);
  });
});
