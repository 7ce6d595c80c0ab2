// <out>/metrics.jsonl: a line per step for the first 100 steps, then lines at least 250 ms apart and on every
// validation step, continued (and truncated) on resume.
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

  it('after the first 100 steps, logs only lines 250 ms apart, validation steps and the last step', async () => {
    const out = join(tmp, 'thin');
    await train({ ...base, steps: 400, valEvery: 50, out });
    const m = lines(out);
    expect(m.slice(0, 100).map((r) => r.step)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(m.filter((r) => r.valLoss !== undefined).map((r) => r.step)).toEqual([50, 100, 150, 200, 250, 300, 350, 400]);
    expect(m[m.length - 1].step).toBe(400);
    for (let i = 100; i < m.length - 1; i++) {
      if (m[i].valLoss !== undefined) continue;
      // The previous line's clock is the one the rule measures from (elapsed rounds to the ms here).
      expect(m[i].elapsed - m[i - 1].elapsed, `line for step ${m[i].step}`).toBeGreaterThanOrEqual(0.25 - 1e-3);
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
