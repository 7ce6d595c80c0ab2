// `handgrad train` flags of the "good defaults" work: --val-every as steps or a duration, --patience,
// --dropout, and the defaults the help names.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { cli, lastJson } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'handgrad-train-options-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const data = join(tmp, 'fox.txt');
writeFileSync(data, 'the quick brown fox jumps over the lazy dog, and the whale watches. '.repeat(60));
const base = ['--data', data, '--batch', '2', '--seq', '8', '--backend', 'reference'];

describe('train options', () => {
  it('--val-every takes a step count or a duration with a unit, and is saved with the run', async () => {
    const out = join(tmp, 'every-time');
    const r = await cli('train', 'bigram', ...base, '--steps', '5', '--val-every', '1h', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(readCheckpoint(out).state.training).toMatchObject({ settings: { valEvery: 1, valEveryMs: 3_600_000 } });
    const steps = join(tmp, 'every-steps');
    expect((await cli('train', 'bigram', ...base, '--steps', '5', '--val-every', '2', '--out', steps)).code).toBe(0);
    expect(readCheckpoint(steps).state.training).toMatchObject({ settings: { valEvery: 2, valEveryMs: 0 } });
    for (const bad of ['1.5', '-1', 'abc', '0s']) {
      const b = await cli('train', 'bigram', ...base, '--steps', '5', '--val-every', bad);
      expect(b.code, bad).toBe(2);
      expect(b.stderr).toMatch(/^handgrad: --val-every expects a step count ≥ 0 or a duration/);
    }
  });

  it('--patience ends a run early; --dropout reaches the model; sgd gets its own rate', async () => {
    const r = await cli('train', 'bigram', ...base, '--steps', '400', '--val-every', '1', '--patience', '1', '--lr', '5', '--out', join(tmp, 'patience'), '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = lastJson(r.stdout);
    expect(s.stoppedEarly).toBe(true);
    expect(s.steps as number).toBeLessThan(400);
    const out = join(tmp, 'dropout');
    const d = await cli('train', 'lstm', ...base, '--hidden', '4', '--embed', '4', '--dropout', '0.25', '--optimizer', 'sgd', '--steps', '2', '--out', out);
    expect(d.code, d.stderr).toBe(0);
    const state = readCheckpoint(out).state;
    expect(state.config.dropout).toBe(0.25);
    expect(state.training).toMatchObject({ settings: { optimizer: 'sgd', lr: 2 } });
    const bad = await cli('train', 'bigram', ...base, '--dropout', '0.5');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/model 'bigram' has no option --dropout/);
  });

  it('a switch a model turns on by default goes off with --no-<flag> (moe: --no-tied-embeddings, --no-recompute)', async () => {
    const moe = ['--tokenizer', 'char', '--d-model', '8', '--heads', '2', '--layers', '1', '--experts', '2', '--expert-hidden', '4', '--context', '8', '--steps', '1'];
    const on = join(tmp, 'moe-on'), off = join(tmp, 'moe-off');
    expect((await cli('train', 'moe', ...base, ...moe, '--out', on)).code).toBe(0);
    expect(readCheckpoint(on).state.config).toMatchObject({ tiedEmbeddings: true, recompute: true });
    const r = await cli('train', 'moe', ...base, ...moe, '--no-tied-embeddings', '--no-recompute', '--out', off);
    expect(r.code, r.stderr).toBe(0);
    expect(readCheckpoint(off).state.config).toMatchObject({ tiedEmbeddings: false, recompute: false });
    expect((await cli('train', '--help')).stdout).toContain('--no-tied-embeddings turns it off');
  });
});
