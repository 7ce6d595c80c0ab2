// Continuum memory system (src/layers/continuum-memory.ts): its registered gradient checks
// 'continuum' (3 levels, periods 1, 4, 16, learned mix, T = 17) and 'continuum-momentum-sum', a
// level of period C changing state only every C steps, and a period-1 level being exactly a
// LinearMemory, and the WASM backend agreeing with the reference.
import { describe, expect, it } from 'vitest';
import { createOps } from '../../src/backends/index.js';
import type { Ops } from '../../src/ops/types.js';
import { ReferenceOps } from '../../src/backends/reference/index.js';
import { ContinuumMemory } from '../../src/layers/continuum-memory.js';
import { LinearMemory } from '../../src/layers/linear-memory.js';
import { runGradChecks } from '../../src/gradcheck/registry.js';
import { Rng } from '../../src/util/rng.js';

const ops = new ReferenceOps('f64');

describe('continuum memory', () => {
  it.each(['continuum', 'continuum-momentum-sum'])("passes the registered gradient check '%s' (periods 1, 4, 16; T = 17)", (name) => {
    const [r] = runGradChecks([name]);
    expect(r.tensors.length).toBe(name === 'continuum' ? 11 : 10);
    for (const t of r.tensors) expect(t.relError, t.name).toBeLessThanOrEqual(1e-6);
  });

  it('a level of period C changes state only at t = C, 2C, … (and the slow level does change)', () => {
    const B = 2, T = 35, inDim = 5;
    const cms = new ContinuumMemory(ops, 'cms', inDim, 4, 3, new Rng(3), { rule: 'delta', optimizer: 'momentum', eta: 0.5, normalize: true });
    const x = ops.tensor(B * T * inDim), y = ops.tensor(B * T * 3);
    new Rng(4).fillNormal(x.data);
    cms.forward(x, y, B, T);
    cms.levels.forEach((level, l) => {
      const C = cms.periods[l];
      for (let b = 0; b < B; b++) {
        for (let t = 1; t <= T; t++) {
          const same = Array.from(level.core.state(b, t)).every((v, i) => v === level.core.state(b, t - 1)[i]);
          expect(same, `level ${l} (C = ${C}), sequence ${b}, t = ${t}`).toBe(t % C !== 0);
        }
      }
    });
    expect(cms.periods).toEqual([1, 4, 16]);
  });

  it('between commits a slow level reads its last committed state: y_t = R_{16} q_t for t = 16 … 31', () => {
    const T = 20, inDim = 4;
    const cms = new ContinuumMemory(ops, 'cms', inDim, 3, 2, new Rng(5), { periods: [16], rule: 'hebbian' });
    const x = ops.tensor(T * inDim), y = ops.tensor(T * 2);
    new Rng(6).fillNormal(x.data);
    cms.forward(x, y, 1, T);
    for (let t = 1; t < 16; t++) { expect(y.data[(t - 1) * 2]).toBe(0); expect(y.data[(t - 1) * 2 + 1]).toBe(0); }
    expect(Math.abs(y.data[15 * 2])).toBeGreaterThan(0);
  });

  it('a period-1 level is exactly a LinearMemory with the same weights', () => {
    const T = 9, inDim = 4, opts = { rule: 'delta' as const, optimizer: 'adam' as const, eta: 0.2, normalize: true };
    const cms = new ContinuumMemory(ops, 'cms', inDim, 3, 2, new Rng(7), { ...opts, periods: [1] });
    const mem = new LinearMemory(ops, 'm', inDim, 3, 2, new Rng(7), opts);
    const x = ops.tensor(T * inDim), y1 = ops.tensor(T * 2), y2 = ops.tensor(T * 2);
    new Rng(8).fillNormal(x.data);
    cms.forward(x, y1, 1, T);
    mem.forward(x, y2, 1, T);
    expect(Array.from(y1.data)).toEqual(Array.from(y2.data));
  });

  it('runs on the WASM backend (float32) and matches the reference, forward and backward', async () => {
    const wasm = await createOps({ backend: 'wasm', threads: 1 });
    try {
      const B = 2, T = 18, inDim = 6, dv = 4;
      const results = ([ops, wasm] as Ops[]).map((o) => {
        const cms = new ContinuumMemory(o, 'cms', inDim, 5, dv, new Rng(11), { rule: 'delta', optimizer: 'momentum', eta: 0.5, normalize: true, mix: 'learned' });
        const x = o.tensor(B * T * inDim), y = o.tensor(B * T * dv), dy = o.tensor(B * T * dv), dx = o.tensor(B * T * inDim);
        new Rng(12).fillNormal(x.data); new Rng(13).fillNormal(dy.data);
        cms.forward(x, y, B, T);
        cms.backward(x, dy, dx, B, T);
        return { y: Array.from(y.data), dx: Array.from(dx.data), dW: Array.from(cms.levels[2].Wk.W.grad.data) };
      });
      const [r, w] = results;
      for (const k of ['y', 'dx', 'dW'] as const) {
        const scale = Math.max(...r[k].map(Math.abs));
        expect(scale).toBeGreaterThan(0);
        r[k].forEach((v, i) => expect(Math.abs(w[k][i] - v), `${k}[${i}]`).toBeLessThan(1e-4 * scale + 1e-5));
      }
    } finally {
      wasm.dispose();
    }
  });
});
