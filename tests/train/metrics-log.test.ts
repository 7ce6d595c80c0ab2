// <out>/metrics.jsonl: one line per step, validation on its steps, continued (and truncated) on resume.
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { train } from '../../src/train/trainer.js';
import { parseMetrics, METRICS_FILE } from '../../src/train/metrics-log.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-metrics-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const text = 'the quick brown fox jumps over the lazy dog. '.repeat(40);
const corpus = { name: 'fox', source: 'test:fox', text };
const base = { model: 'bigram', data: corpus, batch: 2, seq: 8, valEvery: 10, backend: 'reference' as const };
const lines = (dir: string) => parseMetrics(readFileSync(join(dir, METRICS_FILE), 'utf8'));

describe('metrics.jsonl', () => {
  it('logs every step, with valLoss where validation ran', async () => {
    const out = join(tmp, 'a');
    const s = await train({ ...base, steps: 25, out });
    const m = lines(out);
    expect(m.map((r) => r.step)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(m.filter((r) => r.valLoss !== undefined).map((r) => r.step)).toEqual([10, 20, 25]);
    expect(m[24].valLoss).toBeCloseTo(s.valLoss!, 12);
    for (const r of m) {
      for (const k of ['trainLoss', 'lr', 'gradNorm', 'tokensPerSec', 'elapsed'] as const) expect(Number.isFinite(r[k]), k).toBe(true);
    }
  });

  it('a resumed run continues the file, dropping lines past the checkpoint step', async () => {
    const out = join(tmp, 'b');
    await train({ ...base, steps: 20, out });
    // Lines a killed run wrote after its last checkpoint: they are trained again.
    appendFileSync(join(out, METRICS_FILE), JSON.stringify({ step: 21, trainLoss: 99, lr: 1, gradNorm: 1, tokensPerSec: 1, elapsed: 1 }) + '\n{"step":2');
    await train({ model: 'bigram', data: corpus, resume: out, steps: 30 });
    const m = lines(out);
    expect(m.map((r) => r.step)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(m.some((r) => r.trainLoss === 99)).toBe(false);
    // Into another folder: the checkpoint's lines come along.
    const other = join(tmp, 'c');
    await train({ model: 'bigram', data: corpus, resume: out, steps: 35, out: other });
    expect(lines(other).map((r) => r.step)).toEqual(Array.from({ length: 35 }, (_, i) => i + 1));
  });

  it('refuses an --out that is a file before training', async () => {
    const file = join(tmp, 'file.txt');
    appendFileSync(file, 'x');
    await expect(train({ ...base, steps: 5, out: file })).rejects.toThrow(/is a file/);
    await expect(train({ ...base, steps: 5, out: join(file, 'sub') })).rejects.toThrow(/is a file/);
    await expect(train({ ...base, steps: 5, out: '' })).rejects.toThrow(/empty/);
    expect(readFileSync(file, 'utf8')).toBe('x');
  });
});
