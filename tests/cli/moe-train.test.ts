// `handgrad train moe` on TinyStories-format data, end to end in this process: BPE tokenizer
// trained on the data, token files cached and reused, validation on a separate file, expert load
// in metrics.jsonl, exact resume (the tokenizer comes back from the checkpoint), stories sampled
// from the checkpoint, expert-load SVG from `plot`, the section in `report`, and --device cuda
// without a GPU. Needs HANDGRAD_DATA (the shared data folder); skipped, saying so, without it.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cudaStatus } from '../../src/backends/cuda/index.js';
import { END_OF_TEXT } from '../../src/data/bpe-tokenizer.js';
import { readMetrics } from '../../src/train/metrics-log.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { cli, lastJson } from './helpers.js';

const dataDir = process.env.HANDGRAD_DATA;
const tinyFile = dataDir ? join(dataDir, 'tinystories_tiny.txt') : '';
const validFile = dataDir ? join(dataDir, 'tinystories_valid_slice.txt') : '';
const have = !!dataDir && existsSync(tinyFile) && existsSync(validFile);
if (!have) console.warn('moe-train.test.ts: skipped (set HANDGRAD_DATA to the shared data folder with tinystories_tiny.txt and tinystories_valid_slice.txt)');

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-moe-train-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The first `n` stories of the validation slice, in the released format, as a small file. */
function validationFile(n: number): string {
  const text = readFileSync(validFile, 'utf8').slice(0, 200_000);
  const stories = text.split(END_OF_TEXT).slice(1, n + 1); // the first piece may be a fragment
  const path = join(tmp, 'valid.txt');
  writeFileSync(path, stories.map((s) => s.trim() + `\n${END_OF_TEXT}\n`).join(''));
  return path;
}

const model = ['--d-model', '16', '--layers', '2', '--heads', '2', '--experts', '4', '--top-k', '2', '--expert-hidden', '16', '--context', '16'];
const common = ['--vocab-size', '300', '--batch', '2', '--seq', '16', '--val-every', '3', '--val-batches', '2', '--backend', 'wasm', '--threads', '1'];

describe.skipIf(!have)('handgrad train moe on TinyStories', () => {
  it('trains, caches tokens, logs expert load, samples, plots and reports', async () => {
    const val = validationFile(12);
    const full = join(tmp, 'runs', 'full');
    const a = await cli('train', 'moe', '--data', tinyFile, '--val-data', val, ...model, ...common, '--steps', '6', '--out', full, '--json');
    expect(a.code, a.stderr).toBe(0);
    const sa = lastJson(a.stdout);
    expect(sa).toMatchObject({ model: 'moe', steps: 6 });

    // The defaults of the MoE family: BPE, AdamW with decay, warmup then cosine over --steps.
    const state = readCheckpoint(full).state;
    const training = state.training as { settings: Record<string, unknown>; data: { val: { source: string } } };
    expect((state.tokenizer as { kind: string }).kind).toBe('bpe');
    expect(training.settings).toMatchObject({ tokenizer: 'bpe', optimizer: 'adamw', weightDecay: 0.1, schedule: 'cosine', vocabSize: 300 });
    expect(training.data.val.source).toBe(val);

    // Token files beside the run folder, one per text, reused by the next run (same tokenizer).
    const cache = join(tmp, 'runs', '.token-cache');
    const files = readdirSync(cache).filter((f) => f.endsWith('.tokens')).sort();
    expect(files).toHaveLength(2);

    // Expert load on validation steps: [layer][expert] shares summing to 1.
    const m = readMetrics(full);
    expect(m.filter((r) => r.expertLoad !== undefined).map((r) => r.step)).toEqual([3, 6]);
    for (const r of m.filter((x) => x.expertLoad !== undefined)) {
      const load = r.expertLoad as number[][];
      expect(load).toHaveLength(2);
      for (const row of load) {
        expect(row).toHaveLength(4);
        expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 3);
      }
      expect(r.droppedFraction).toBe(0); // dropless by default
      expect(r.expertComputeFraction).toBeCloseTo(0.5, 6); // top-2 of 4
    }

    // Samples: a story from the checkpoint's own BPE tokenizer.
    const s = await cli('sample', full, '--length', '20', '--seed', '2', '--json');
    expect(s.code, s.stderr).toBe(0);
    const sj = lastJson(s.stdout);
    expect(sj.model).toBe('moe');
    expect(sj.tokens as number).toBeLessThanOrEqual(20);
    expect(sj.text).not.toContain(END_OF_TEXT);

    // plot: expert-load.svg beside the others; report: the Expert load section.
    const p = await cli('plot', full, '--json');
    expect(p.code, p.stderr).toBe(0);
    const svg = readFileSync(join(full, 'expert-load.svg'), 'utf8');
    expect(svg).toContain('Expert load, layer 1');
    expect(svg).toContain('Expert load, layer 2');
    expect(svg).toContain('uniform 1/4');
    const rep = await cli('report', full, '--samples', '1', '--length', '10');
    expect(rep.code, rep.stderr).toBe(0);
    const html = readFileSync(join(full, 'report.html'), 'utf8');
    expect(html).toContain('<h2 id="expert-load">Expert load</h2>');
  });

  it('3 steps + resume to 6 gives the bits of 6 in one go (tokenizer from the checkpoint, token files reused)', async () => {
    const val = existsSync(join(tmp, 'valid.txt')) ? join(tmp, 'valid.txt') : validationFile(12);
    const args = ['--data', tinyFile, '--val-data', val, ...model, ...common, '--schedule', 'constant', '--warmup', '2'];
    const whole = join(tmp, 'exact', 'whole'), part = join(tmp, 'exact', 'part');
    const w = await cli('train', 'moe', ...args, '--steps', '6', '--out', whole, '--json');
    expect(w.code, w.stderr).toBe(0);
    const cache = join(tmp, 'exact', '.token-cache');
    const before = readdirSync(cache).map((f) => [f, statSync(join(cache, f)).mtimeMs]);
    const p1 = await cli('train', 'moe', ...args, '--steps', '3', '--out', part, '--json');
    expect(p1.code, p1.stderr).toBe(0);
    expect(readdirSync(cache).map((f) => [f, statSync(join(cache, f)).mtimeMs])).toEqual(before); // read back, not rewritten
    const p2 = await cli('train', '--resume', part, '--steps', '6', '--json');
    expect(p2.code, p2.stderr).toBe(0);
    const sw = lastJson(w.stdout), sp = lastJson(p2.stdout);
    expect(sp.steps).toBe(6);
    expect(sp.trainLoss).toBe(sw.trainLoss);
    expect(sp.valLoss).toBe(sw.valLoss);
    const strip = (r: Record<string, unknown>) => ({ step: r.step, trainLoss: r.trainLoss, valLoss: r.valLoss, expertLoad: r.expertLoad });
    expect(readMetrics(part).map(strip)).toEqual(readMetrics(whole).map(strip));
    expect(readCheckpoint(part).state.tokenizer).toEqual(readCheckpoint(whole).state.tokenizer);

    // The dense twin routes nothing: no expert-load fields in its metrics.
    const dense = join(tmp, 'exact', 'dense');
    const d = await cli('train', 'moe-dense', ...args, '--steps', '3', '--out', dense);
    expect(d.code, d.stderr).toBe(0);
    expect(readMetrics(dense).some((r) => 'expertLoad' in r || 'expertComputeFraction' in r)).toBe(false);

    // Two runs compared on shared charts (needs --out).
    const cmp = join(tmp, 'exact', 'cmp.svg');
    const pc = await cli('plot', whole, part, '--out', cmp, '--title', 'whole vs part');
    expect(pc.code, pc.stderr).toBe(0);
    const svg = readFileSync(cmp, 'utf8');
    expect(svg).toContain('whole vs part: validation loss');
    expect(svg).toContain('>whole<');
    expect(svg).toContain('>part<');
    const noOut = await cli('plot', whole, part);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toContain('need --out');
  });

  it.skipIf(cudaStatus().available)('--device cuda without a GPU: one line, exit 2, nothing trained', async () => {
    const r = await cli('train', 'moe', '--data', tinyFile, '--device', 'cuda', '--steps', '1', '--out', join(tmp, 'cuda'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--device cuda/);
    expect(existsSync(join(tmp, 'cuda'))).toBe(false);
  });
});
