// The CUDA backend. The loader must answer, never throw, whatever is installed; the conformance
// harness is checked on the CPU (reference f32 against f64, and a corrupted op that must fail);
// the device tests run only where cudaStatus().available, and are skipped with the reason elsewhere.
import { describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cudaStatus } from '../../src/backends/cuda/index.js';
import { CUDA_CONFORMANCE, conformanceCases, runConformance } from '../../src/backends/conformance.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { createOps } from '../../src/backends/index.js';
import type { Ops, Tensor } from '../../src/ops/types.js';

const status = cudaStatus();

describe('CUDA addon loader', () => {
  it('reports a missing addon as unavailable with the build command', () => {
    const s = cudaStatus('/nonexistent/handgrad.node');
    expect(s).toEqual({ available: false, reason: 'CUDA addon not built (npm run build:cuda)', devices: [] });
  });

  it('reports a corrupt addon as unavailable instead of throwing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'handgrad-cuda-'));
    const bogus = join(dir, 'handgrad.node');
    writeFileSync(bogus, 'not a shared object');
    const s = cudaStatus(bogus);
    expect(s.available).toBe(false);
    expect(s.reason).toMatch(/failed to load/);
  });

  it('answers for the real build location (built or not, GPU or not)', () => {
    expect(typeof status.available).toBe('boolean');
    expect(status.reason.length).toBeGreaterThan(0);
    if (status.available) expect(status.devices.length).toBeGreaterThan(0);
    else expect(status.devices).toEqual([]);
  });

  it.skipIf(status.available)('createOps({backend: "cuda"}) rejects with the reason when CUDA is unavailable', async () => {
    await expect(createOps({ backend: 'cuda' })).rejects.toThrow(/CUDA/);
  });
});

describe('conformance harness (on the CPU)', () => {
  // A sample of cases keeps this fast; scripts/gpu-check.ts and the device block run them all.
  const sample = ['storage', 'softmaxCrossEntropy', 'layerNormBackward', 'gemm tn', 'groupedGemm tn', 'attentionBackward',
    'moePlan', 'moeRoute k=2 renormalized', 'moeRouteBackward k=2 renormalized', 'moeAuxLoss k=2', 'groupedGemm nn decode', 'adam (AdamW'];

  it('has a case for every op the MoE transformer uses', () => {
    const names = conformanceCases().map((c) => c.name).join('\n');
    for (const op of ['gemm nn', 'gemm nt', 'gemm tn', 'gemm tt', 'groupedGemm nn', 'groupedGemm nt', 'groupedGemm tn',
      'attention forward', 'attentionBackward', 'swiglu', 'swigluBackward', 'moeRoute', 'moePlan', 'moeCombine',
      'moeCombineBackward', 'moeRouteBackward', 'moeAuxLoss', 'layerNorm', 'layerNormBackward', 'softmaxCrossEntropy', 'embedding',
      'embeddingBackward', 'adam', 'sumSquares', 'addBias', 'sumRows', 'copy', 'axpy', 'scale', 'fill', 'add', 'mul']) {
      expect(names, op).toContain(op);
    }
  });

  it('passes reference-f32 against reference-f64', () => {
    for (const name of sample) {
      const rs = runConformance(new ReferenceOps('f32'), new ReferenceOps('f64'), { filter: name, quick: true });
      expect(rs.length, name).toBeGreaterThan(0);
      for (const r of rs) expect(r.pass, `${r.name}: ${r.detail} (${r.normwise}, ${r.elementwise})`).toBe(true);
    }
  });

  it('fails a backend with one wrong element, and one that throws', () => {
    // One corrupted output element in a 513-row softmax must be caught by the elementwise test.
    class Corrupt extends ReferenceOps {
      override softmax(x: Tensor, y: Tensor, rows: number, cols: number): void {
        super.softmax(x, y, rows, cols);
        if (rows * cols > 1000) y.data[777] *= 1.01;
      }
      override moePlan(...args: Parameters<Ops['moePlan']>): void {
        super.moePlan(...args);
        const slot = args[5].data;
        if (slot.length > 3) slot[3] = -1 - slot[3];
      }
      override swiglu(): void { throw new Error('boom'); }
    }
    const [soft] = runConformance(new Corrupt('f32'), new ReferenceOps('f64'), { filter: 'softmax' });
    expect(soft.name).toBe('softmax');
    expect(soft.pass).toBe(false);
    expect(soft.elementwise).toBeGreaterThan(1e-3);
    const [plan] = runConformance(new Corrupt('f32'), new ReferenceOps('f64'), { filter: 'moePlan' });
    expect(plan.pass).toBe(false);
    expect(plan.detail).toMatch(/slot\[3\]/);
    const [sw] = runConformance(new Corrupt('f32'), new ReferenceOps('f64'), { filter: 'swiglu' });
    expect(sw.pass).toBe(false);
    expect(sw.detail).toMatch(/threw.*boom/);
  });
});

describe.skipIf(!status.available)(`CUDA backend on the device (${status.available ? status.devices.join('; ') : `skipped: ${status.reason}`})`, () => {
  // Made on first use: a skipped describe body still runs at collection time.
  let made: Promise<Ops> | undefined;
  const ops0 = () => (made ??= createOps({ backend: 'cuda' }));
  const ref = new ReferenceOps('f64');

  for (const c of conformanceCases()) {
    it(`conformance: ${c.name}`, async () => {
      const [r] = runConformance(await ops0(), ref, { ...CUDA_CONFORMANCE, filter: (name) => name === c.name });
      expect(r.pass, `${r.name}: normwise ${r.normwise}, elementwise ${r.elementwise} (${r.detail})`).toBe(true);
    });
  }

  it('keeps .data right in both directions, for views too', async () => {
    const ops = await ops0();
    const m = ops.mark();
    const x = ops.tensorFrom([1, 2, 3, 4, 5, 6]);
    ops.scale(x, 2);
    expect(Array.from(x.data)).toEqual([2, 4, 6, 8, 10, 12]);
    const v = x.view(2, 3);
    v.data[0] = -1;              // host write through a view's mirror …
    ops.scale(x, 0.5);           // … is uploaded before the next op
    expect(Array.from(x.data)).toEqual([1, 2, -0.5, 4, 5, 6]);
    expect(Array.from(v.data)).toEqual([-0.5, 4, 5]);
    ops.release(m);
  });

  it('accounts device memory and releases scopes (zero-filled reuse)', async () => {
    const ops = (await ops0()) as Ops & { memory(): { bytesInUse: number; peakBytes: number; totalDevice: number }; resetPeak(): void };
    const before = ops.memory();
    const m = ops.mark();
    const t = ops.tensor(1000);
    ops.fill(t, 3);
    expect(ops.memory().bytesInUse - before.bytesInUse).toBe(4096); // 4000 bytes, 256-aligned
    expect(ops.memory().peakBytes).toBeGreaterThanOrEqual(before.bytesInUse + 4096);
    ops.release(m);
    expect(ops.memory().bytesInUse).toBe(before.bytesInUse);
    const u = ops.tensor(1000);
    expect(u.data.every((e) => e === 0)).toBe(true);
    expect(before.totalDevice).toBeGreaterThan(2 ** 30);
    ops.release(m);
  });

  it('rejects bad arguments with RangeErrors', async () => {
    const ops = await ops0();
    const m = ops.mark();
    const a = ops.tensor(6), b = ops.tensor(6), c = ops.tensor(3);
    expect(() => ops.gemm(false, false, 2, 3, 3, 1, a, b, 0, c)).toThrow(RangeError);
    expect(() => ops.softmaxCrossEntropy(a, ops.intsFrom([0, 5]), 2, 3, null, 1)).toThrow(/target 5 in row 1/);
    expect(() => ops.embedding(a, ops.intsFrom([2]), c, 1, 3)).toThrow(/outside 0..1/);
    ops.release(m);
  });
});
