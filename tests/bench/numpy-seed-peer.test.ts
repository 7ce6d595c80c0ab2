// The seed-style NumPy LSTM peer (bench/peers/numpy_seed_lstm.py): its hand-written BPTT gradients
// match central differences, and a few training steps on a learnable pattern lower the loss. Its
// speed is the benchmark's business, never asserted here. Skipped where no Python has NumPy.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findPython, peerEnv } from '../../bench/peer-env.js';

const script = join(import.meta.dirname, '..', '..', 'bench', 'peers', 'numpy_seed_lstm.py');
const python = findPython('numpy').python;

function run(arg: string): Record<string, unknown> {
  const r = spawnSync(python!, [script, arg], { encoding: 'utf8', env: peerEnv(1), timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

describe.skipIf(!python)(`numpy_seed_lstm.py${python ? '' : ' (skipped: no Python with numpy)'}`, () => {
  it('its manual BPTT gradients match central differences', () => {
    expect(run('--gradcheck').maxRelError as number).toBeLessThan(1e-5);
  });

  it('trains: batch 1, hidden 100, BPTT 25, the loss goes down on a repeating pattern; reports tokens/s and the BLAS core', () => {
    const out = run(JSON.stringify({ hidden: 100, batch: 1, seq: 25, vocab: 65, threads: 1, steps: 30, data: 'cycle' }));
    expect(out.tokensPerSec as number).toBeGreaterThan(0);
    expect(out).toMatchObject({ threads: 1, dtype: 'float32' });
    expect(out).toHaveProperty('blasCore');
    expect(out.firstLoss as number).toBeCloseTo(Math.log(65), 0); // about uniform at the start
    expect(out.lastLoss as number).toBeLessThan(0.7 * (out.firstLoss as number));
  });

  it('runs a batch of several sequences too', () => {
    const out = run(JSON.stringify({ hidden: 16, batch: 4, seq: 8, vocab: 65, threads: 1, steps: 20, data: 'cycle' }));
    expect(out.lastLoss as number).toBeLessThan(out.firstLoss as number);
  });
});
