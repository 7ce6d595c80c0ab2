// CudaOps on the CPU, through an emulated addon (./cuda-emulated-addon.ts): the host-mirror
// protocol, pointers of views, scopes and the argument order across the N-API boundary, on every
// conformance case. The CUDA kernels themselves are checked on a GPU (scripts/gpu-check.ts).
import { describe, expect, it } from 'vitest';
import { CudaOps } from '../../src/backends/cuda/ops.js';
import { CUDA_CONFORMANCE, conformanceCases, runConformance } from '../../src/backends/conformance.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { emulatedAddon } from './cuda-emulated-addon.js';

describe('CudaOps over an emulated addon', () => {
  it('passes every conformance case against reference-f64 (small shapes)', () => {
    const emu = emulatedAddon();
    const ops = new CudaOps(emu, 'Emulated');
    expect(ops.name).toBe('cuda-Emulated');
    expect(ops.dtype).toBe('f32');
    const results = runConformance(ops, new ReferenceOps('f64'), { ...CUDA_CONFORMANCE, quick: true });
    expect(results.length).toBe(conformanceCases().length);
    const failed = results.filter((r) => !r.pass).map((r) => `${r.name}: ${r.detail} (${r.normwise}, ${r.elementwise})`);
    expect(failed).toEqual([]);
    expect(emu.records()).toBe(0); // every case released what it allocated
    ops.dispose();
  });

  it('copies only what the mirror protocol needs', () => {
    const emu = emulatedAddon(1 << 20);
    const ops = new CudaOps(emu, 'Emulated');
    const x = ops.tensorFrom([1, 2, 3, 4]), y = ops.tensor(4);
    expect(emu.traffic).toEqual({ up: 0, down: 0 });       // nothing moves until an op needs it
    ops.scale(x, 2);
    expect(emu.traffic).toEqual({ up: 16, down: 0 });      // x uploaded once
    ops.copy(x, y);
    ops.scale(y, 0.5);
    expect(emu.traffic).toEqual({ up: 16, down: 0 });      // device-resident from then on
    expect(Array.from(y.data)).toEqual([1, 2, 3, 4]);
    expect(emu.traffic.down).toBe(16);                     // one download for .data …
    expect(Array.from(y.data)).toEqual([1, 2, 3, 4]);
    expect(emu.traffic.down).toBe(16);                     // … and none for a second read
    y.view(1, 2).data[1] = 30;                             // a write through a view's mirror
    ops.add(x, y, x);                                      // is uploaded before the next op
    expect(emu.traffic.up).toBe(32);
    expect(Array.from(x.data)).toEqual([3, 6, 36, 12]);
    expect(Array.from(x.view(2, 2).data)).toEqual([36, 12]);
    // A fresh tensor is zero on the device: its first .data needs no download.
    const before = emu.traffic.down;
    expect(Array.from(ops.ints(3).data)).toEqual([0, 0, 0]);
    expect(emu.traffic.down).toBe(before);
    ops.dispose();
  });

  it('packs and multiplies with a packed B on the device (no host loops, no transfers)', () => {
    const emu = emulatedAddon(1 << 20);
    const ops = new CudaOps(emu, 'Emulated');
    const [m, n, k] = [3, 5, 4];
    const A = ops.tensorFrom(Array.from({ length: m * k }, (_, i) => i - 5));
    const B = ops.tensorFrom(Array.from({ length: n * k }, (_, i) => (i % 7) - 3)); // stored n×k
    const C = ops.tensor(m * n);
    const P = ops.packedGemmB(k, n);
    ops.scale(A, 1); ops.scale(B, 1); // uploads A and B
    const before = { ...emu.traffic };
    ops.packGemmB(true, k, n, B, P);
    ops.fill(B, 0); // the packed operand is a snapshot
    ops.gemmPackedB(false, m, n, k, 1, A, P, 0, C);
    expect(emu.traffic).toEqual(before);
    const a = Array.from(A.data), want: number[] = [];
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * (((j * k + p) % 7) - 3);
      want.push(s);
    }
    expect(Array.from(C.data)).toEqual(want);
    ops.dispose();
  });

  it('moves only the viewed range of a big storage, and keeps every handed-out write', () => {
    const emu = emulatedAddon(1 << 20);
    const ops = new CudaOps(emu, 'Emulated');
    const big = ops.tensor(1000);
    ops.fill(big, 1);
    const d0 = emu.traffic.down, u0 = emu.traffic.up;
    expect(Array.from(big.view(990, 10).data)).toEqual(new Array(10).fill(1)); // e.g. the last logits row
    expect(emu.traffic.down - d0).toBe(40);                // 10 floats, not 1000
    big.view(990, 10).data[0] = 5;                         // already current: no second download
    big.view(0, 2).data[1] = 7;                            // a second, disjoint range
    expect(emu.traffic.down - d0).toBe(48);
    ops.scale(big, 2);                                     // both ranges go up before the op
    expect(emu.traffic.up - u0).toBe(48);
    const all = big.data;
    expect(all[0]).toBe(2); expect(all[1]).toBe(14); expect(all[990]).toBe(10); expect(all[500]).toBe(2);
    // Overlapping views: a write through the first survives the second's download.
    const t = ops.tensor(20), c = ops.tensor(20);
    ops.fill(t, 1);
    const first = t.view(0, 10).data;
    first[7] = 42;
    expect(t.view(5, 10).data[2]).toBe(42);
    ops.copy(t, c);
    expect(c.data[7]).toBe(42);
    // Many small views written between two ops: past the range limit the whole mirror is used,
    // and no write is lost on the way.
    ops.fill(big, 0);
    const views = Array.from({ length: 40 }, (_, i) => big.view(i * 20, 3).data);
    views.forEach((v, i) => { v[2] = i + 1; });
    ops.scale(big, 1);
    const back = big.data;
    for (let i = 0; i < 40; i++) expect(back[i * 20 + 2]).toBe(i + 1);
    expect(back[1]).toBe(0);
    ops.dispose();
  });

  it('runs the ops it has no kernel for (recurrent cells, memory recurrence) on the host mirrors', () => {
    const ops = new CudaOps(emulatedAddon(1 << 20), 'Emulated'), ref = new ReferenceOps('f32');
    const B = 2, H = 3, gates = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8, 0.9, 1.0, -1.1, 1.2,
      -0.3, 0.2, 0.1, -0.4, 0.5, -0.6, 0.7, 0.8, -0.9, 1.0, 1.1, -1.2], cPrev = [0.5, -0.5, 0.25, -0.25, 1, -1];
    const results = [ops, ref].map((o) => {
      const g = o.tensorFrom(gates), cp = o.tensorFrom(cPrev), c = o.tensor(B * H), tc = o.tensor(B * H), h = o.tensor(B * H);
      o.lstmCell(g, cp, c, tc, h, B, H);
      o.scale(h, 2); // a device op after the host one: the host's writes must have gone up first
      return [g, c, tc, h].map((t) => Array.from(t.data));
    });
    expect(results[0]).toEqual(results[1]);
    expect(results[0][3].some((x) => x !== 0)).toBe(true);
    expect(() => ops.lstmCell(ops.tensor(1), ops.tensor(1), ops.tensor(1), ops.tensor(1), ops.tensor(1), 1, 1)).toThrow(/gates holds 1 elements/);
    ops.dispose();
  });

  it('scopes, memory accounting and dispose of the shared pool', () => {
    const emu = emulatedAddon(1 << 20);
    const a = new CudaOps(emu, 'Emulated'), b = new CudaOps(emu, 'Emulated');
    const m = a.mark();
    a.tensor(1000);
    expect(a.memory().bytesInUse).toBe(4096);
    a.release(m);
    expect(a.memory()).toEqual({ bytesInUse: 0, peakBytes: 4096, totalDevice: 1 << 20 });
    a.resetPeak();
    expect(a.memory().peakBytes).toBe(0);
    const t = b.tensorFrom([5]);
    a.dispose();
    expect(emu.records()).toBe(1);           // b still owns memory in the shared pool
    expect(Array.from(t.data)).toEqual([5]);
    expect(() => a.tensor(1)).toThrow(/after dispose/);
    b.dispose();
    expect(emu.records()).toBe(0);
  });

  it('rejects bad arguments before they reach the device', () => {
    const ops = new CudaOps(emulatedAddon(1 << 20), 'Emulated');
    const a = ops.tensor(6), b = ops.tensor(9), c = ops.tensor(3);
    expect(() => ops.gemm(false, false, 2, 3, 3, 1, a, b, 0, c)).toThrow(/C holds 3 elements, needs m·n/);
    expect(() => ops.softmaxCrossEntropy(a, ops.intsFrom([0, 5]), 2, 3, null, 1)).toThrow(/target 5 in row 1 is not below 3/);
    expect(() => ops.embedding(a, ops.intsFrom([2]), c, 1, 3)).toThrow(/id 2 at position 0 is outside 0..1/);
    expect(() => ops.activation('swish' as never, a, a)).toThrow(/unknown activation 'swish'/);
    // The kernels' own limits fail loudly here rather than in a kernel that would write nothing.
    const big = ops.tensor(2 * 256 * 3), lse = ops.tensor(2);
    const wide = { B: 1, H: 1, D: 256, Tq: 2, Tk: 2, causal: true, qOffset: 0, qStride: 256, kvStride: 256, oStride: 256, scale: 1 };
    expect(() => ops.attention(big, big, big, big, lse, wide)).toThrow(/head width D = 256 is outside 1..128/);
    const ids = ops.ints(400);
    expect(() => ops.moePlan(ids, 1, 400, 1, -1, ids, ids, ops.ints(401), ids)).toThrow(/E = 400 experts is above the CUDA kernel's limit of 360/);
    // Empty products follow the reference: k = 0 gives C = beta·C (beta 0: zeros, over NaN too).
    const cz = ops.tensorFrom([NaN, 2, 3]);
    ops.gemm(false, false, 1, 3, 0, 1, a, b, 0, cz);
    expect(Array.from(cz.data)).toEqual([0, 0, 0]);
    expect(() => ops.moePlan(ops.intsFrom([0, 9]), 2, 4, 1, -1, ops.ints(2), ops.ints(2), ops.ints(5), ops.ints(4))).toThrow(/topIdx\[1\] = 9/);
    expect(() => ops.groupedGemm('nn', 2, ops.intsFrom([0, 3, 1]), 1, 1, a, a, 0, a)).toThrow(/non-decreasing/);
    expect(() => ops.copy(new ReferenceOps('f32').tensor(6), a)).toThrow(/another backend/);
    expect(() => a.view(4, 3)).toThrow(RangeError);
    ops.dispose();
  });
});
