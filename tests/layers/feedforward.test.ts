// The feed-forward blocks (src/layers/feedforward.ts): registered gradient checks 'ffn-swiglu'
// and 'ffn-gelu', SwiGLU against its formula, and WASM against the reference.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import { createWasmOps, type WasmOps } from '../../src/backends/wasm/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { FeedForward, type FfnKind } from '../../src/layers/feedforward.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { Rng } from '../../src/util/rng.js';

const ref = new ReferenceOps('f64');
let wasm: Ops;
let wasm3: WasmOps;
beforeAll(async () => {
  wasm = await createOps({ backend: 'wasm', threads: 1 });
  wasm3 = await createWasmOps({ threads: 3 });
});
afterAll(() => wasm3?.dispose());

describe('feed-forward', () => {
  it("passes the registered gradient check 'ffn-swiglu' (W1, W3, W2 without biases, x)", () => {
    const [r] = runGradChecks(['ffn-swiglu']);
    expect(r.tensors.map((t) => t.name)).toEqual(['ffn.W1.W', 'ffn.W3.W', 'ffn.W2.W', 'x']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it("passes the registered gradient check 'ffn-gelu' (W1, b1, W2, b2, x)", () => {
    const [r] = runGradChecks(['ffn-gelu']);
    expect(r.tensors.map((t) => t.name)).toEqual(['ffn.W1.W', 'ffn.W1.b', 'ffn.W2.W', 'ffn.W2.b', 'x']);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it('swiglu computes (silu(x·W1) ⊙ x·W3)·W2', () => {
    const C = 3, F = 4, n = 2;
    const f = new FeedForward(ref, 'f', C, F, new Rng(1));
    const x = ref.tensorFrom([0.5, -1, 2, 1, 0.25, -0.75]), y = ref.tensor(n * C);
    f.forward(x, y, n);
    const W1 = f.W1.W.value.data, W3 = f.W3!.W.value.data, W2 = f.W2.W.value.data;
    for (let r = 0; r < n; r++) {
      const g = Array.from({ length: F }, (_, j) => {
        let h1 = 0, h3 = 0;
        for (let c = 0; c < C; c++) { h1 += x.data[r * C + c] * W1[c * F + j]; h3 += x.data[r * C + c] * W3[c * F + j]; }
        return (h1 / (1 + Math.exp(-h1))) * h3;
      });
      for (let c = 0; c < C; c++) {
        let want = 0;
        for (let j = 0; j < F; j++) want += g[j] * W2[j * C + c];
        expect(y.data[r * C + c]).toBeCloseTo(want, 12);
      }
    }
  });

  it.each(['swiglu', 'gelu'] as FfnKind[])('%s matches the reference on the WASM backend, forward and backward', (kind) => {
    const n = 7, C = 10, F = 18;
    const [r, w] = [ref, wasm].map((ops) => {
      const f = new FeedForward(ops, 'f', C, F, new Rng(2), { kind });
      const x = ops.tensor(n * C), y = ops.tensor(n * C), dy = ops.tensor(n * C), dx = ops.tensor(n * C);
      new Rng(4).fillNormal(x.data);
      new Rng(5).fillNormal(dy.data);
      f.forward(x, y, n);
      f.backward(x, dy, dx, n);
      return [...y.data, ...dx.data, ...f.W1.W.grad.data];
    });
    r.forEach((v, i) => expect(Math.abs(w[i] - v), `${i}`).toBeLessThan(1e-4 * Math.max(1, Math.abs(v))));
  });

  // The swiglu gate is one fused op per direction (swiglu / swigluBackward over [h1 | h3]), not
  // silu, then products: half the memory traffic over [n, F]. It must give exactly the bits of
  // that unfused chain (the same products in the same order), here recomputed from the layer's
  // own weights with the unfused ops on the WASM backend.
  it('swiglu runs the fused gate ops (no separate silu or product) and matches the unfused chain bit for bit', () => {
    const n = 9, C = 8, F = 12;
    const calls: string[] = [];
    const spy = new Proxy(wasm, {
      get(t, k, recv) {
        const v = Reflect.get(t, k, recv);
        return typeof v === 'function' ? (...a: unknown[]) => { calls.push(String(k)); return v.apply(t, a); } : v;
      },
    });
    const f = new FeedForward(spy, 'f', C, F, new Rng(2), { kind: 'swiglu' });
    const x = wasm.tensor(n * C), y = wasm.tensor(n * C), dy = wasm.tensor(n * C), dx = wasm.tensor(n * C);
    new Rng(4).fillNormal(x.data);
    new Rng(5).fillNormal(dy.data);
    calls.length = 0;
    f.forward(x, y, n);
    f.backward(x, dy, dx, n);
    expect(calls.filter((c) => c === 'swiglu' || c === 'swigluBackward')).toEqual(['swiglu', 'swigluBackward']);
    expect(calls.filter((c) => c === 'activation' || c === 'activationBackward' || c === 'mul')).toEqual([]);

    // The unfused chain: h1 = x·W1, h3 = x·W3, a = silu(h1), g = a ⊙ h3, y = g·W2; backward
    // dg = dy·W2ᵀ, dh3 = dg ⊙ a, da = dg ⊙ h3, dh1 = da ⊙ silu'(h1), dx = dh1·W1ᵀ + dh3·W3ᵀ.
    const o = wasm, t = (k: number) => o.tensor(k);
    const W1 = f.W1.W.value, W3 = f.W3!.W.value, W2 = f.W2.W.value;
    const h1 = t(n * F), h3 = t(n * F), a = t(n * F), g = t(n * F), yy = t(n * C);
    o.gemm(false, false, n, F, C, 1, x, W1, 0, h1);
    o.gemm(false, false, n, F, C, 1, x, W3, 0, h3);
    o.activation('silu', h1, a);
    o.mul(a, h3, g);
    o.gemm(false, false, n, C, F, 1, g, W2, 0, yy);
    const dg = t(n * F), dh1 = t(n * F), dh3 = t(n * F), dxx = t(n * C), dW1 = t(C * F);
    o.gemm(false, true, n, F, C, 1, dy, W2, 0, dg);
    o.mul(dg, a, dh3);
    o.mul(dg, h3, dg);
    o.activationBackward('silu', h1, a, dg, dh1);
    o.gemm(false, true, n, C, F, 1, dh1, W1, 0, dxx);
    o.gemm(false, true, n, C, F, 1, dh3, W3, 1, dxx);
    o.gemm(true, false, C, F, n, 1, x, dh1, 0, dW1);
    expect([...y.data]).toEqual([...yy.data]);
    expect([...dx.data]).toEqual([...dxx.data]);
    expect([...f.W1.W.grad.data]).toEqual([...dW1.data]);
  });

  // One long row of the swiglu op (the gate's [h1 | h3]) is split into spans across the threads
  // (src/backends/wasm/batch-pool.ts): the same bits as one thread, forward and backward.
  it('the swiglu op split across three threads gives bit for bit what one thread does', () => {
    const F = 1003; // spans of 64: 16 items, the last one ragged (43 floats, not a multiple of 4)
    const gu = Float32Array.from({ length: 2 * F }, (_, i) => Math.sin(i * 0.37) * 6);
    const dout = Float32Array.from({ length: F }, (_, i) => Math.cos(i * 0.11));
    const run = (ops: Ops) => {
      const out = ops.tensor(F), dgu = ops.tensor(2 * F);
      ops.swiglu(ops.tensorFrom(gu), out, 1, F);
      ops.swigluBackward(ops.tensorFrom(gu), ops.tensorFrom(dout), dgu, 1, F);
      return [...out.data, ...dgu.data];
    };
    try {
      wasm3.pool.swigluSpan = 64;
      wasm3.pool.callerClaims = false; // the workers run every span
      const before = wasm3.pool.workerItems;
      const three = run(wasm3), one = run(wasm);
      expect(wasm3.pool.workerItems - before).toBe(2 * 16);
      const i = three.findIndex((x, j) => !Object.is(x, one[j]));
      expect(i, `element ${i}: ${three[i]} on three threads, ${one[i]} on one`).toBe(-1);
    } finally {
      wasm3.pool.callerClaims = true;
      wasm3.pool.swigluSpan = 2 ** 16;
    }
  });
});
