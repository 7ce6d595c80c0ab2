// <out>/metrics.jsonl: a line per step for the first 100 steps, then lines at least 250 ms apart and on every
// validation step, continued (and truncated) on resume.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { train } from '../../src/train/trainer.js';
import { MetricsLog, parseMetrics, METRICS_FILE } from '../../src/train/metrics-log.js';
import { RunFolderError } from '../../src/train/run-folder.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-metrics-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true })); // after the describe below has unmounted its tmpfs
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

describe('metrics.jsonl on a disk that refuses writes', () => {
  it('a log with nothing logged writes nothing: a run that fails before its first step leaves the file alone', () => {
    const dir = join(tmp, 'untouched');
    mkdirSync(dir);
    writeFileSync(join(dir, METRICS_FILE), 'another run\n');
    const log = new MetricsLog(dir, null);
    log.flush();
    expect(readFileSync(join(dir, METRICS_FILE), 'utf8')).toBe('another run\n');
  });

  it.skipIf(!existsSync('/dev/full'))('a refused append is one line naming the file (ENOSPC from /dev/full)', () => {
    const dir = join(tmp, 'full');
    mkdirSync(dir);
    const log = new MetricsLog(dir, null);
    log.append(1, 2, NaN, 0.1, 1, 100, 0.5);
    log.flush();
    rmSync(join(dir, METRICS_FILE));
    symlinkSync('/dev/full', join(dir, METRICS_FILE));
    log.append(2, 2, NaN, 0.1, 1, 100, 0.6);
    expect(() => log.flush()).toThrow(new RunFolderError(
      `cannot write ${join(dir, METRICS_FILE)}: no space left on the device (ENOSPC); free some space or choose another --out`));
  });

  // A real full disk: a 16 KiB tmpfs (needs root on Linux, as tests/cli/disk-full.test.ts).
  const mnt = join(tmp, 'small');
  const mounted = process.platform === 'linux' && spawnSync('mkdir', ['-p', mnt]).status === 0 &&
    spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', mnt]).status === 0;
  afterAll(() => { if (mounted) spawnSync('umount', [mnt]); });

  it.skipIf(!mounted)('an append cut off by a full disk is cut back: the file keeps its whole lines only', () => {
    const log = new MetricsLog(mnt, null);
    log.append(1, 2, NaN, 0.1, 1, 100, 0.5);
    log.flush();
    const before = readFileSync(join(mnt, METRICS_FILE), 'utf8');
    for (let s = 2; s < 400; s++) log.append(s, 2, NaN, 0.1, 1, 100, 0.5); // ~40 KiB: more than the disk holds
    expect(() => log.flush()).toThrow(/^cannot write .*metrics\.jsonl: no space left on the device \(ENOSPC\)/);
    expect(readFileSync(join(mnt, METRICS_FILE), 'utf8')).toBe(before);
  });
});
